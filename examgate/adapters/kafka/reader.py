"""Reading events: committed events of some topics in a group of the reader's own, and the lag
of a consumer group."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaError, Message, TopicPartition

from examgate.core.codec import CodecError, DecodedEvent, EventCodec
from examgate.core.settings import KafkaSettings

from .clients import KafkaClients, private_group

log = logging.getLogger("examgate.kafka")


class EventReader:
    """Reads committed events from topics, from the start or the end, in its own group."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, topics: list[str], *,
                 group_id: str | None = None, from_beginning: bool = True,
                 on_assign: Callable[[list[TopicPartition]], None] | None = None,
                 start_at: datetime | None = None) -> None:
        self._consumer = KafkaClients(kafka).consumer(
            group_id=group_id or private_group("reader"),
            offsets="earliest" if from_beginning else "latest")
        self._on_assign = on_assign
        # From the first record at or after ``start_at`` (its timestamp), not the beginning.
        self._start_ms = int(start_at.timestamp() * 1000) if start_at is not None else None
        self._starts: dict[tuple[str, int], int] = {}
        self._consumer.subscribe(topics, on_assign=self._assigned)
        self._codec = codec

    def _assigned(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        if self._start_ms is not None:
            # The documented way to choose where a subscription starts: the partitions'
            # offsets set in on_assign, then assign() with them.
            found = consumer.offsets_for_times(
                [TopicPartition(p.topic, p.partition, self._start_ms) for p in parts],
                timeout=10)
            for tp in found:
                if tp.offset < 0:  # no record that late: nothing to read there
                    tp.offset = OFFSET_END
                self._starts[(tp.topic, tp.partition)] = tp.offset
            consumer.assign(found)
        if self._on_assign is not None:
            self._on_assign(parts)

    def _read(self, msg: Message) -> tuple[DecodedEvent | CodecError, float] | None:
        """The event in ``msg`` (or why it does not decode) and when it was received; None
        for a consumer error, logged unless it only says a partition's end was reached."""
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("reader: %s", error)
            return None
        received = time.time()
        try:
            return self._codec.decode(msg.value() or b""), received
        except CodecError as exc:
            return exc, received

    def events(self, timeout: float, idle_timeout: float | None = None
               ) -> Iterator[tuple[DecodedEvent | CodecError, float]]:
        """Yield (event or decode error, receive time) until ``timeout`` or ``idle_timeout``."""
        end = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < end:
            if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return
            msg = self._consumer.poll(0.2)
            item = self._read(msg) if msg is not None else None
            if item is None:
                continue
            last = time.monotonic()
            yield item

    def events_until_now(self, timeout: float
                         ) -> Iterator[tuple[DecodedEvent | CodecError, float]]:
        """Yield the events committed before this call (up to each partition's end offset
        when the reader got its partitions), then stop, however busy the topics are;
        ``TimeoutError`` if that takes longer than ``timeout``."""
        end = time.monotonic() + timeout
        ends: dict[tuple[str, int], int] | None = None
        while time.monotonic() < end:
            msg = self._consumer.poll(0.2)
            if ends is None:
                assigned = self._consumer.assignment()
                if not assigned:
                    continue
                ends = {}
                for tp in assigned:
                    low, high = self._consumer.get_watermark_offsets(tp, timeout=10)
                    start = self._starts.get((tp.topic, tp.partition), low)
                    if start == OFFSET_END:
                        continue
                    if high > max(low, start):
                        ends[(tp.topic, tp.partition)] = high
            item = self._read(msg) if msg is not None else None
            if item is not None:
                yield item
            if not ends:
                return
            positions = self._consumer.position(
                [TopicPartition(t, p) for t, p in ends])
            if all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in positions):
                return
        raise TimeoutError(f"the topics were not read to their end in {timeout:.0f} s")

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()


def group_lag(kafka: KafkaSettings, group_id: str, topic: str, timeout: float = 5.0) -> int:
    """Records of ``topic`` not yet committed by consumer group ``group_id`` (all partitions)."""
    # Joins no group: it only reads the group's committed offsets and the watermarks.
    consumer = KafkaClients(kafka).consumer(group_id=group_id)
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        parts = [TopicPartition(topic, p) for p in meta.topics[topic].partitions]
        committed = consumer.committed(parts, timeout=timeout)
        lag = 0
        for tp in committed:
            _low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            lag += max(0, high - (tp.offset if tp.offset >= 0 else 0))
        return lag
    finally:
        consumer.close()
