"""The console's edges: where events go, where they come from, and where images live.

Only the small abstract ports are here. The Kafka adapters are in
:mod:`dashboard.kafka_events`, the in-memory ones of the unit tests in
:mod:`dashboard.memory`, and :mod:`dashboard.wiring` connects the real ones.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from examgate.core.codec import DecodedEvent
from examgate.core.crypto import Sealer
from examgate.core.ports import ObjectStore, TemplateStore


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


@dataclass(frozen=True)
class ConsolePorts:
    """Everything outside the console process that it talks to."""

    events: EventSink
    source: EventSource
    objects: ObjectStore
    sealer: Sealer
    # Read for the admin page's look-alike pairs (None: the page says it is not connected).
    templates: TemplateStore | None = None
