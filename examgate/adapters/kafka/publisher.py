"""Publishing events: an idempotent, ``acks=all`` producer that tracks every delivery.

librdkafka retries on its own; whatever still fails is reported by event id,
never dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from examgate.core.codec import EventCodec
from examgate.core.gate_signatures import signed_headers
from examgate.core.settings import KafkaSettings
from examgate.core.signing import ModelSigner

from .clients import KafkaClients

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

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, client_id: str, *,
                 extra: Mapping[str, Any] | None = None,
                 signer: ModelSigner | None = None) -> None:
        self._producer = KafkaClients(kafka).producer(client_id=client_id, extra=extra)
        self._codec = codec
        self._signer = signer  # a gate's key: each record goes out with its signature header
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
        headers = signed_headers(self._signer, value)
        while True:
            try:
                self._producer.produce(topic, key=k, value=value, headers=headers,
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
