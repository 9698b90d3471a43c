"""Model reload: every worker hears every ModelChanged event (its own consumer group, so the
announcement is broadcast, not shared out) and swaps models without a restart."""

from __future__ import annotations

import logging
import threading
from typing import Any

from examgate.adapters.kafka import EventReader, private_group
from examgate.core.codec import CodecError
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.model_reload")


class ModelReloader(threading.Thread):
    """Background reader of the model-events topic."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(name="model-reload", daemon=True)
        self.rt = rt
        self._stop_event = threading.Event()
        self.topic = rt.settings.kafka.topics.model_events
        self.reader = EventReader(rt.settings.kafka, rt.codec, [self.topic],
                                  group_id=private_group(f"model-reload-{rt.worker_id}"),
                                  from_beginning=False)

    def run(self) -> None:
        log.info("model reload: listening on %s", self.topic)
        try:
            while not self._stop_event.is_set():
                for item, _received in self.reader.events(timeout=0.5):
                    if isinstance(item, CodecError):
                        log.warning("model reload: ignoring undecodable event: %s", item)
                    elif item.name != "ModelChanged":
                        log.warning("model reload: ignoring a %s event on %s", item.name,
                                    self.topic)
                    else:
                        self.apply(item.record)
        finally:
            self.reader.close()

    def handle(self, value: bytes) -> None:
        """Decode and apply one ModelChanged event."""
        try:
            event = self.rt.codec.decode(value, expected="ModelChanged").record
        except CodecError as exc:
            log.warning("model reload: ignoring undecodable event: %s", exc)
            return
        self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """Switch models as one ModelChanged event says."""
        if event["alias"] == "challenger" and event["version"] in ("", "none"):
            self.rt.drop_challenger()
            return
        self.rt.reload(event["alias"], event["version"], event["canary_fraction"])

    def stop(self) -> None:
        """Ask the thread to finish."""
        self._stop_event.set()
