"""Kafka edges shared by producers, tools and tests (confluent-kafka).

:class:`EventPublisher` is an idempotent, ``acks=all`` producer that tracks every
delivery: librdkafka retries on its own, and whatever still fails is reported by
event id, never dropped silently. :class:`EventReader` consumes committed events.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from examgate.codec import CodecError, DecodedEvent, EventCodec
from examgate.settings import KafkaSettings

log = logging.getLogger("examgate.kafka")


@dataclass
class DeliveryReport:
    """What happened to everything published so far."""

    delivered: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (event id, error)

    @property
    def ok(self) -> bool:
        """Everything that was sent was acknowledged."""
        return not self.failed


class EventPublisher:
    """Publishes encoded events with idempotence and full acknowledgement."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, client_id: str,
                 **overrides: Any) -> None:
        conf = dict(kafka.client_config())
        conf.update({"client.id": client_id, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 2, "message.timeout.ms": 60_000})
        conf.update(overrides)
        self._producer = Producer(conf)
        self._codec = codec
        self.report = DeliveryReport()
        self._lock = threading.Lock()

    def _on_delivery(self, event_id: str):
        def callback(err: KafkaError | None, _msg: Any) -> None:
            with self._lock:
                if err is None:
                    self.report.delivered += 1
                else:
                    self.report.failed.append((event_id, str(err)))
                    log.error("publish: event %s was not delivered: %s", event_id, err)
        return callback

    def publish(self, topic: str, key: str | bytes, name: str, record: dict[str, Any]) -> None:
        """Encode ``record`` as event type ``name`` and send it (asynchronously)."""
        value = self._codec.encode(name, record)
        self.publish_raw(topic, key, value, record.get("event_id", "?"))

    def publish_raw(self, topic: str, key: str | bytes | None, value: bytes,
                    event_id: str = "?") -> None:
        """Send already-encoded bytes (also used to inject bad events in tests)."""
        k = key.encode() if isinstance(key, str) else key
        while True:
            try:
                self._producer.produce(topic, key=k, value=value,
                                       on_delivery=self._on_delivery(event_id))
                break
            except BufferError:
                # The local queue is full: serve callbacks until there is room.
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> DeliveryReport:
        """Wait for every outstanding delivery; undelivered messages count as failed."""
        left = self._producer.flush(timeout)
        if left:
            with self._lock:
                self.report.failed.append(("?", f"{left} message(s) still unacknowledged "
                                                f"after {timeout:.0f} s"))
        return self.report


class EventReader:
    """Reads committed events from topics, from the start or the end, in its own group."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, topics: list[str], *,
                 group_id: str | None = None, from_beginning: bool = True,
                 on_assign: Callable[[list[TopicPartition]], None] | None = None) -> None:
        conf = dict(kafka.client_config())
        conf.update({"group.id": group_id or f"examgate-reader-{uuid.uuid4().hex[:10]}",
                     "auto.offset.reset": "earliest" if from_beginning else "latest",
                     "isolation.level": "read_committed", "enable.auto.commit": False})
        self._consumer = Consumer(conf)
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
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("reader: %s", msg.error())
                continue
            last = time.monotonic()
            received = time.time()
            try:
                yield self._codec.decode(msg.value()), received
            except CodecError as exc:
                yield exc, received

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()


def ensure_topics(kafka: KafkaSettings, names: list[str], partitions: int,
                  timeout: float = 30.0) -> None:
    """Create topics that do not exist yet (idempotent)."""
    admin = AdminClient(kafka.client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    rf = kafka.topics.replication_factor
    new = [NewTopic(n, num_partitions=partitions, replication_factor=rf)
           for n in names if n not in existing]
    if not new:
        return
    for fut in admin.create_topics(new, operation_timeout=timeout).values():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def group_lag(kafka: KafkaSettings, group_id: str, topic: str, timeout: float = 5.0) -> int:
    """Records of ``topic`` not yet committed by consumer group ``group_id`` (all partitions)."""
    conf = dict(kafka.client_config())
    conf.update({"group.id": group_id, "enable.auto.commit": False})
    consumer = Consumer(conf)
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
