"""The real services behind the API: Kafka (publish, and read decisions), Redis, the registry."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from examgate.adapters import factory as ports
from examgate.adapters.kafka import EventReader, KafkaClients
from examgate.core.codec import EventCodec
from examgate.core.gate_signatures import signed_headers
from examgate.core.settings import Settings
from examgate.core.signing import ModelSigner
from http_api.app import ApiContext
from http_api.decisions import DecisionFeed, DecisionIndex
from http_api.settings import ApiSettings

log = logging.getLogger("examgate.api")


class CheckInPublisher:
    """Publishes one CheckIn at a time and returns once the broker has it (acks=all)."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.topic = settings.kafka.topics.checkins
        self.codec = EventCodec()
        self.timeout_s = timeout_s
        self._producer = KafkaClients(settings.kafka).producer(client_id="examgate-api")
        # The API checks in for its kiosks (each token bound to its gates): it signs with its
        # own key, which the processors trust for those gates (checkin.gate_keys).
        key = settings.checkin.gate_signing_key
        self._signer = ModelSigner.from_base64(key.get_secret_value()) if key else None
        self._poller = threading.Thread(target=self._serve, name="kafka-deliveries",
                                        daemon=True)
        self._stop = threading.Event()
        self._poller.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def __call__(self, record: dict[str, Any]) -> None:
        """Publish ``record``; raise when it is not delivered within the timeout."""
        done = threading.Event()
        failure: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                failure.append(err)
            done.set()

        value = self.codec.encode("CheckIn", record)
        self._producer.produce(self.topic, key=record["gate_id"].encode(), value=value,
                               headers=signed_headers(self._signer, value),
                               on_delivery=delivered)
        if not done.wait(self.timeout_s):
            raise TimeoutError(f"no delivery report within {self.timeout_s:.0f} s")
        if failure:
            raise KafkaException(failure[0])

    def close(self) -> None:
        """Deliver what is queued, then stop."""
        self._stop.set()
        self._producer.flush(5)


class Champion:
    """The champion model for /v1/compare, loaded on first use and when the alias moves."""

    def __init__(self, settings: Settings, check_every_s: float = 60.0) -> None:
        self.settings, self.check_every_s = settings, check_every_s
        self._analyzer: Any = None
        self._lock = threading.Lock()
        self._checked = 0.0

    def __call__(self) -> Any:
        """The champion's FaceAnalyzer, or None when the registry cannot give one."""
        import time

        from examgate.models.analyzer import analyzer_from_bundle

        with self._lock:
            if self._analyzer is None or time.monotonic() - self._checked > self.check_every_s:
                self._checked = time.monotonic()
                try:
                    registry = ports.model_registry(self.settings)
                    version = registry.resolve("champion")
                    if self._analyzer is None or self._analyzer.model_version != version:
                        self._analyzer = analyzer_from_bundle(registry.load(version),
                                                              self.settings)
                        log.info("api: compare with champion version %s", version)
                except Exception as exc:  # noqa: BLE001 - keep the model we have
                    log.warning("api: the registry could not give the champion: %s", exc)
            return self._analyzer


def build_context(settings: Settings, api: ApiSettings) -> tuple[ApiContext, Callable[[], None]]:
    """The live context, and a function that stops its threads."""
    index = DecisionIndex(api.decisions_kept, api.decisions_kept_s)
    assigned = threading.Event()
    # A group of its own, from the end of the topic: every replica sees every new decision.
    reader = EventReader(settings.kafka, EventCodec(), [settings.kafka.topics.decisions],
                         group_id=f"examgate-api-{uuid.uuid4().hex[:12]}",
                         from_beginning=False, on_assign=lambda _parts: assigned.set())
    feed = DecisionFeed(reader, index)
    feed.start()
    publisher = CheckInPublisher(settings)
    champion = Champion(settings)

    def ready() -> str | None:
        return None if assigned.is_set() else "the decisions topic is not assigned yet"

    def stop() -> None:
        feed.stop()
        publisher.close()

    # Warm the model in the background: check-ins need none, /v1/compare answers 503 until it.
    threading.Thread(target=champion, name="model-warmup", daemon=True).start()
    ctx = ApiContext(api, publisher, index, ready, champion, ports.template_versions(settings))
    return ctx, stop
