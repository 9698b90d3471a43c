"""Reading events: committed events of some topics in a group of the reader's own, and the lag
of a consumer group."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from confluent_kafka import Consumer, KafkaError, TopicPartition

from examgate.core.codec import CodecError, DecodedEvent, EventCodec
from examgate.core.settings import KafkaSettings

from .clients import KafkaClients, private_group

log = logging.getLogger("examgate.kafka")


class EventReader:
    """Reads committed events from topics, from the start or the end, in its own group."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, topics: list[str], *,
                 group_id: str | None = None, from_beginning: bool = True,
                 on_assign: Callable[[list[TopicPartition]], None] | None = None) -> None:
        self._consumer = KafkaClients(kafka).consumer(
            group_id=group_id or private_group("reader"),
            offsets="earliest" if from_beginning else "latest")
        self._on_assign = on_assign
        self._consumer.subscribe(topics, on_assign=self._assigned)
        self._codec = codec

    def _assigned(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        if self._on_assign is not None:
            self._on_assign(parts)

    def events(self, timeout: float, idle_timeout: float | None = None
               ) -> Iterator[tuple[DecodedEvent | CodecError, float]]:
        """Yield (event or decode error, receive time) until ``timeout`` or ``idle_timeout``."""
        end = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < end:
            if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reader: %s", error)
                continue
            last = time.monotonic()
            received = time.time()
            try:
                yield self._codec.decode(msg.value() or b""), received
            except CodecError as exc:
                yield exc, received

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
