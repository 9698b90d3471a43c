"""The console's edges: where events go, where they come from, and where images live.

Each port is a tiny abstract class with the real adapter and an in-memory one
beside it; unit tests use the memory ones, the integration test the real ones.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from examgate.codec import DecodedEvent, EventCodec
from examgate.crypto import Sealer
from examgate.objectstore import ObjectStore
from examgate.settings import KafkaSettings, Settings


class PublishError(RuntimeError):
    """Events could not be delivered; the action they record did not happen."""


@dataclass(frozen=True)
class Outgoing:
    """One event to publish."""

    topic: str
    key: str
    name: str
    record: dict[str, Any]


class EventSink(abc.ABC):
    """Port: publish events and wait until the broker has them."""

    @abc.abstractmethod
    def send(self, events: Sequence[Outgoing]) -> None:
        """Publish ``events`` and return once all are acknowledged; PublishError otherwise."""

    def close(self) -> None:
        """Release connections (nothing to release unless an adapter says otherwise)."""
        return None


Deliver = Callable[[str, DecodedEvent], None]
"""Called with (topic, decoded event) for every event an EventSource reads."""


class EventSource(abc.ABC):
    """Port: a background reader that hands every event of some topics to a callback."""

    @abc.abstractmethod
    def start(self, deliver: Deliver) -> None:
        """Begin reading in the background."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop reading and release the connection."""

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether the source is assigned its partitions and reading."""


class KafkaEventSink(EventSink):
    """Publishes through examgate's idempotent, acks=all producer, one batch at a time."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, client_id: str = "console",
                 timeout_s: float = 15.0) -> None:
        from examgate.kafka import EventPublisher

        self._publisher = EventPublisher(kafka, codec, client_id)
        self._timeout_s = timeout_s
        # Human clicks are rare; one batch at a time tells whose delivery failed.
        self._lock = threading.Lock()

    def send(self, events: Sequence[Outgoing]) -> None:
        with self._lock:
            failed_before = len(self._publisher.report.failed)
            try:
                for e in events:
                    self._publisher.publish(e.topic, e.key, e.name, e.record)
            except Exception as exc:  # noqa: BLE001 - codec or client errors alike
                raise PublishError(f"could not publish: {exc}") from exc
            report = self._publisher.flush(self._timeout_s)
            if len(report.failed) > failed_before:
                raise PublishError(f"not delivered: {report.failed[-1][1]}")

    def close(self) -> None:
        self._publisher.flush(self._timeout_s)


class MemoryEventSink(EventSink):
    """Keeps published events in a list; encodes them so schema errors surface in tests."""

    def __init__(self, codec: EventCodec | None = None) -> None:
        self.sent: list[Outgoing] = []
        self.fail = False
        self._codec = codec

    def send(self, events: Sequence[Outgoing]) -> None:
        if self.fail:
            raise PublishError("broker unavailable (simulated)")
        if self._codec is not None:
            for e in events:
                self._codec.encode(e.name, e.record)
        self.sent.extend(events)

    def of(self, name: str) -> list[dict[str, Any]]:
        """The records published as event type ``name``."""
        return [e.record for e in self.sent if e.name == name]


class MemoryEventSource(EventSource):
    """A source that tests feed by hand with :meth:`push`."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def stop(self) -> None:
        self._deliver = None

    @property
    def ready(self) -> bool:
        return self._deliver is not None

    def push(self, topic: str, name: str, record: dict[str, Any]) -> None:
        """Deliver one event as if it had been read from ``topic``."""
        assert self._deliver is not None, "the app has not started the source"
        self._deliver(topic, DecodedEvent(name, 1, record))


@dataclass(frozen=True)
class ConsolePorts:
    """Everything outside the console process that it talks to."""

    events: EventSink
    source: EventSource
    objects: ObjectStore
    sealer: Sealer

    @classmethod
    def from_settings(cls, settings: Settings, lookback_hours: float) -> ConsolePorts:
        """The real adapters: Kafka, the S3 object store, the template key."""
        from examgate.objectstore import S3ObjectStore

        from .audit import console_codec
        from .feed import KafkaEventSource

        codec = console_codec()
        topics = settings.kafka.topics
        return cls(
            events=KafkaEventSink(settings.kafka, codec),
            source=KafkaEventSource(settings.kafka, codec,
                                    [topics.decisions, topics.feedback, topics.audit],
                                    lookback_hours=lookback_hours),
            objects=S3ObjectStore.from_settings(settings.object_store),
            sealer=Sealer.from_base64(settings.template_key.get_secret_value()),
        )
