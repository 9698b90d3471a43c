"""What a processor needs at run time: ports, loaded models and the codec, built once in main().

Models come from the registry by alias; a ModelChanged event swaps them in place
without a restart, and the swap is atomic for the verifier (one attribute write). A
model that fails to load is logged and counted, and the current one keeps serving.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from examgate.adapters.registry import ModelRegistry
from examgate.core.codec import EventCodec
from examgate.core.enrollment import Enroller
from examgate.core.ports import ObjectStore, TemplateStore
from examgate.core.settings import Settings
from examgate.core.verify import FaceAnalyzer, Verifier

log = logging.getLogger("examgate.runtime")


@dataclass
class Runtime:
    """Shared state of one processor worker."""

    settings: Settings
    codec: EventCodec
    templates: TemplateStore
    objects: ObjectStore
    registry: ModelRegistry | None
    verifier: Verifier
    enroller: Enroller
    worker_id: str
    analyzer_factory: object = None  # callable(bundle) -> FaceAnalyzer
    # What a slice keeps from one record to the next (the enroll slice: its guarded stores).
    slice_state: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def analyzers(self) -> list[FaceAnalyzer]:
        """Champion first, then the challenger if one runs in shadow."""
        out = [self.verifier.champion]
        if self.verifier.challenger is not None:
            out.append(self.verifier.challenger)
        return out

    def reload(self, alias: str, version: str | None = None,
               canary_fraction: float = 0.0) -> bool:
        """Load ``version`` (by default the one ``alias`` points at) and swap it in as
        ``alias``; on any failure, log why, count it and keep the current model (False)."""
        from stream_processors.metrics import MODEL_RELOAD_FAILURES, MODEL_VERSION

        if self.registry is None or self.analyzer_factory is None:
            return False
        try:
            version = version or self.registry.resolve(alias)
            bundle = self.registry.load(version)
            analyzer = self.analyzer_factory(bundle)  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - registry, spec, ONNX, OpenCV: all mean "not now"
            MODEL_RELOAD_FAILURES.inc()
            log.error("model reload: %s version %s failed to load, keeping the current model: "
                      "%s: %s", alias, version or "?", type(exc).__name__, exc)
            return False
        with self._lock:
            old = (self.verifier.champion if alias == "champion" else self.verifier.challenger)
            if alias == "champion":
                self.verifier.champion = analyzer
                self.verifier.canary_fraction = 0.0
                if (self.verifier.challenger is not None
                        and self.verifier.challenger.model_version == analyzer.model_version):
                    self.verifier.challenger = None
            else:
                self.verifier.challenger = analyzer
                self.verifier.canary_fraction = canary_fraction
        if old is not None:
            MODEL_VERSION.labels(alias, old.model_version).set(0)
        MODEL_VERSION.labels(alias, analyzer.model_version).set(1)
        log.info("model reload: %s is now version %s%s", alias, analyzer.model_version,
                 f" (deciding on {canary_fraction:.0%} of gates)" if canary_fraction else "")
        return True

    def drop_challenger(self) -> None:
        """Stop shadow scoring."""
        with self._lock:
            self.verifier.challenger = None
            self.verifier.canary_fraction = 0.0

