"""Model reload without restart: champion swap, shadow challenger, failed reload keeps the old."""

from __future__ import annotations

import numpy as np

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.registry import ModelBundle, RegistryError
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.core.verify import Analysis, Verifier
from stream_processors.model_reload import ModelReloader
from stream_processors.runtime import Runtime


class Stub:
    """An analyzer of a given version that finds one face."""

    def __init__(self, version: str) -> None:
        self.model_version = version
        self.thresholds = Thresholds(0.5, 0.3)

    def analyse(self, image: bytes) -> Analysis:
        return Analysis(1, {}, (), np.ones(4, np.float32) / 2, None)


class FakeRegistry:
    def __init__(self) -> None:
        self.broken = False

    def load(self, alias_or_version: str) -> ModelBundle:
        if self.broken:
            raise RegistryError("registry down")
        return ModelBundle("m", alias_or_version, "yunet", "sface", {}, Thresholds(0.5, 0.3))


def _runtime() -> tuple[Runtime, FakeRegistry]:
    templates, objects = MemoryTemplateStore(), MemoryObjectStore()
    sealer = Sealer(b"k" * 32)
    verifier = Verifier(templates, objects, "frames", Stub("1"))
    registry = FakeRegistry()
    rt = Runtime(Settings(), EventCodec(), templates, objects, registry,  # type: ignore[arg-type]
                 verifier, Enroller(templates, objects, sealer, "e", "frames"), "w0",
                 analyzer_factory=lambda bundle: Stub(bundle.version))
    return rt, registry


def _reloader(rt: Runtime) -> ModelReloader:
    reloader = ModelReloader.__new__(ModelReloader)  # no Kafka consumer needed for handle()
    reloader.rt = rt
    return reloader


def test_model_changed_swaps_champion_and_challenger() -> None:
    rt, _ = _runtime()
    codec = EventCodec()
    reloader = _reloader(rt)
    reloader.handle(codec.encode("ModelChanged", events.model_changed(
        model_name="m", version="2", alias="challenger")))
    assert rt.verifier.challenger.model_version == "2"
    assert [a.model_version for a in rt.analyzers()] == ["1", "2"]
    reloader.handle(codec.encode("ModelChanged", events.model_changed(
        model_name="m", version="2", alias="champion", previous_version="1")))
    assert rt.verifier.champion.model_version == "2"
    assert rt.verifier.challenger is None  # a promoted challenger no longer shadows itself


def test_failed_reload_keeps_the_current_model() -> None:
    rt, registry = _runtime()
    registry.broken = True
    assert rt.reload("champion", "7") is False
    assert rt.verifier.champion.model_version == "1"


def test_garbage_model_event_is_ignored() -> None:
    rt, _ = _runtime()
    _reloader(rt).handle(b"not an event")
    assert rt.verifier.champion.model_version == "1"
