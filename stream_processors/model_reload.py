"""Model reload: every worker hears every ModelChanged event (its own consumer group, so the
announcement is broadcast, not shared out) and swaps models without a restart."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaError

from examgate.adapters.kafka import KafkaClients, private_group
from examgate.core.codec import CodecError
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.model_reload")


class ModelReloader(threading.Thread):
    """Background consumer of the model-events topic."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(name="model-reload", daemon=True)
        self.rt = rt
        self._stop_event = threading.Event()
        self.consumer = KafkaClients(rt.settings.kafka).consumer(
            group_id=private_group(f"model-reload-{rt.worker_id}"), offsets="latest")

    def run(self) -> None:
        topic = self.rt.settings.kafka.topics.model_events
        self.consumer.subscribe([topic])
        log.info("model reload: listening on %s", topic)
        try:
            while not self._stop_event.is_set():
                msg = self.consumer.poll(0.5)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("model reload: %s", error)
                    continue
                self.handle(msg.value() or b"")
        finally:
            self.consumer.close()

    def handle(self, value: bytes) -> None:
        """Apply one ModelChanged event."""
        try:
            event = self.rt.codec.decode(value, expected="ModelChanged").record
        except CodecError as exc:
            log.warning("model reload: ignoring undecodable event: %s", exc)
            return
        if event["alias"] == "challenger" and event["version"] in ("", "none"):
            self.rt.drop_challenger()
            return
        self.rt.reload(event["alias"], event["version"], event["canary_fraction"])

    def stop(self) -> None:
        """Ask the thread to finish."""
        self._stop_event.set()
