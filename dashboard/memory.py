"""In-memory event ports for unit tests: a sink that keeps what it is sent, a hand-fed source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from examgate.core.codec import DecodedEvent, EventCodec

from .ports import Deliver, EventSink, EventSource, Outgoing, PublishError


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


