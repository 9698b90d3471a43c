"""Model reload: every worker hears every ModelChanged event (its own consumer group, so the
announcement is broadcast, not shared out) and swaps models without a restart.

The event is a hint, the registry the truth: the worker loads the version the
registry's alias points at, and only when it is the version the event names (a
stale or forged event changes nothing). A model that fails to load is logged and
counted; the worker keeps serving the one it has and keeps listening.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from examgate.adapters.kafka import EventReader, private_group
from examgate.adapters.registry import RegistryError
from examgate.core.codec import CodecError, DecodedEvent
from stream_processors.metrics import MODEL_EVENTS_IGNORED, MODEL_RELOAD_FAILURES
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.model_reload")


class ModelReloader(threading.Thread):
    """Background reader of the model-events topic; it outlives any one bad event."""

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
                try:
                    for item, _received in self.reader.events(timeout=0.5):
                        self._dispatch(item)
                except Exception:  # noqa: BLE001 - the listener must not die with the reader
                    log.exception("model reload: reading %s failed; listening again in 1 s",
                                  self.topic)
                    self._stop_event.wait(1.0)
        finally:
            self.reader.close()

    def _dispatch(self, item: DecodedEvent | CodecError) -> None:
        if isinstance(item, CodecError):
            log.warning("model reload: ignoring undecodable event: %s", item)
        elif item.name != "ModelChanged":
            log.warning("model reload: ignoring a %s event on %s", item.name, self.topic)
        else:
            self._apply_safely(item.record)

    def handle(self, value: bytes) -> None:
        """Decode and apply one ModelChanged event."""
        try:
            event = self.rt.codec.decode(value, expected="ModelChanged").record
        except CodecError as exc:
            log.warning("model reload: ignoring undecodable event: %s", exc)
            return
        self._apply_safely(event)

    def _apply_safely(self, event: dict[str, Any]) -> None:
        try:
            self.apply(event)
        except Exception:  # noqa: BLE001 - one bad event never stops the listener
            MODEL_RELOAD_FAILURES.inc()
            log.exception("model reload: event %s failed, keeping the current models",
                          event.get("event_id"))

    def apply(self, event: dict[str, Any]) -> None:
        """Act on one ModelChanged event as a hint: the registry's aliases say what to load."""
        alias, claimed = event["alias"], event["version"]
        if alias not in ("champion", "challenger"):
            _ignore("unknown_alias", "alias %r is neither champion nor challenger", alias)
            return
        registry = self.rt.registry
        if registry is None:
            return
        try:
            current: str | None = registry.resolve(alias)
            why = ""
        except RegistryError as exc:
            current, why = None, str(exc)
        if alias == "challenger" and claimed in ("", "none"):
            if current is not None:
                _ignore("registry_disagrees", "the event drops the challenger, but the "
                        "registry's challenger is version %s", current)
                return
            self.rt.drop_challenger()
            return
        if current is None:
            MODEL_RELOAD_FAILURES.inc()
            log.error("model reload: cannot confirm %s = version %s with the registry, keeping "
                      "the current model: %s", alias, claimed, why)
            return
        if current != claimed:
            _ignore("registry_disagrees", "the event says %s is version %s, the registry says "
                    "version %s", alias, claimed, current)
            return
        fraction = float(event["canary_fraction"]) if alias == "challenger" else 0.0
        if not 0.0 <= fraction <= 1.0:  # NaN fails too
            _ignore("invalid_event", "canary fraction %r lies outside [0, 1]", fraction)
            return
        self.rt.reload(alias, current, fraction)

    def stop(self) -> None:
        """Ask the thread to finish."""
        self._stop_event.set()


def _ignore(reason: str, why: str, *args: object) -> None:
    MODEL_EVENTS_IGNORED.labels(reason).inc()
    log.warning("model reload: ignoring a ModelChanged event: " + why, *args)
