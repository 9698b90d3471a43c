"""What a processor needs at run time: ports, loaded models and the codec, built once in main().

Models come from the registry by alias; a ModelChanged event swaps them in place
without a restart, and the swap is atomic for the verifier (one attribute write).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from examgate.adapters.registry import ModelRegistry, RegistryError
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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def analyzers(self) -> list[FaceAnalyzer]:
        """Champion first, then the challenger if one runs in shadow."""
        out = [self.verifier.champion]
        if self.verifier.challenger is not None:
            out.append(self.verifier.challenger)
        return out

    def reload(self, alias: str, version: str | None = None,
               canary_fraction: float = 0.0) -> bool:
        """Load ``alias`` (or a version) from the registry and swap it in; False on failure."""
        from stream_processors.metrics import MODEL_RELOAD_FAILURES, MODEL_VERSION

        if self.registry is None or self.analyzer_factory is None:
            return False
        try:
            bundle = self.registry.load(version or alias)
            analyzer = self.analyzer_factory(bundle)  # type: ignore[operator]
        except (RegistryError, OSError, ValueError, RuntimeError) as exc:
            MODEL_RELOAD_FAILURES.inc()
            log.error("model reload: %s -> %s failed, keeping the current model: %s",
                      alias, version, exc)
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

