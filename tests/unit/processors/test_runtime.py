"""Model reload without restart: champion swap, shadow challenger, failed reload keeps the old."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from prometheus_client import REGISTRY

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.registry import ModelBundle, RegistryError
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.matching import Analysis, LivenessModel, LivenessReading
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.core.verify import Verifier
from stream_processors.model_reload import ModelReloader
from stream_processors.runtime import Runtime

CODEC = EventCodec()

LIVE = LivenessReading(0.95, 5, False)


class Stub:
    """An analyzer of a given version that finds one face."""

    def __init__(self, version: str) -> None:
        self.model_version = version
        self.thresholds = Thresholds(0.5, 0.3)
        self.liveness_model = LivenessModel(0.8, 0.3)

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        return Analysis(1, {}, (), np.ones(4, np.float32) / 2, None, liveness=LIVE)


class FakeRegistry:
    """Aliases point at versions; a bundle's version is the version it was loaded as."""

    def __init__(self) -> None:
        self.broken = False
        self.alias_to_version = {"champion": "1"}
        self.load_error: Exception | None = None

    def resolve(self, alias_or_version: str) -> str:
        if alias_or_version.isdigit():
            return alias_or_version
        if self.broken or alias_or_version not in self.alias_to_version:
            raise RegistryError(f"m@{alias_or_version}: no such alias")
        return self.alias_to_version[alias_or_version]

    def load(self, alias_or_version: str) -> ModelBundle:
        if self.broken:
            raise RegistryError("registry down")
        if self.load_error is not None:
            raise self.load_error
        return ModelBundle("m", self.resolve(alias_or_version), "yunet", "sface", {},
                           Thresholds(0.5, 0.3))


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
    rt, registry = _runtime()
    codec = EventCodec()
    reloader = _reloader(rt)
    registry.alias_to_version["challenger"] = "2"
    reloader.handle(codec.encode("ModelChanged", events.model_changed(
        model_name="m", version="2", alias="challenger")))
    assert rt.verifier.challenger is not None and rt.verifier.challenger.model_version == "2"
    assert [a.model_version for a in rt.analyzers()] == ["1", "2"]
    registry.alias_to_version = {"champion": "2"}
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


def _failures() -> float:
    return REGISTRY.get_sample_value("examgate_model_reload_failures_total") or 0.0


def _changed(version: str, alias: str = "champion", canary_fraction: float = 0.0) -> bytes:
    return CODEC.encode("ModelChanged", events.model_changed(
        model_name="m", version=version, alias=alias, canary_fraction=canary_fraction))


def _unreadable_onnx(bundle: ModelBundle) -> Stub:
    import onnxruntime as ort

    ort.InferenceSession(b"this is not an ONNX graph")  # raises onnxruntime's own error
    raise AssertionError("onnxruntime accepted garbage")


@pytest.mark.parametrize("break_it", [
    pytest.param(lambda rt, reg: setattr(rt, "analyzer_factory", _unreadable_onnx),
                 id="unreadable-onnx"),
    pytest.param(lambda rt, reg: setattr(reg, "load_error", KeyError("thresholds")),
                 id="incomplete-spec"),
])
def test_a_model_that_cannot_load_is_logged_counted_and_the_old_one_kept(
        break_it, caplog: pytest.LogCaptureFixture) -> None:
    rt, registry = _runtime()
    registry.alias_to_version["champion"] = "2"
    break_it(rt, registry)
    before = _failures()
    with caplog.at_level(logging.ERROR, "examgate.runtime"):
        _reloader(rt).handle(_changed("2"))
    assert rt.verifier.champion.model_version == "1"
    assert _failures() == before + 1
    assert any("keeping" in r.getMessage() and "2" in r.getMessage() for r in caplog.records)


class ScriptedReader:
    """Plays one script per ``events()`` call (events, or an exception to raise), then stops
    the reloader; ``between`` runs after each event."""

    def __init__(self, reloader: ModelReloader, scripts: list, between=lambda: None) -> None:
        self.reloader, self.scripts, self.between = reloader, list(scripts), between
        self.calls = 0

    def events(self, timeout: float):
        self.calls += 1
        script = self.scripts.pop(0)
        if not self.scripts:
            self.reloader.stop()
        if isinstance(script, Exception):
            raise script
        for item in script:
            yield item, 0.0
            self.between()

    def close(self) -> None:
        pass


class NoWaitEvent(threading.Event):
    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


def _listening(rt: Runtime, scripts: list, between=lambda: None) -> ModelReloader:
    reloader = _reloader(rt)
    reloader.topic = "model.events"
    reloader._stop_event = NoWaitEvent()
    reloader.reader = ScriptedReader(reloader, scripts, between)  # type: ignore[assignment]
    return reloader


def test_the_reload_thread_keeps_listening_after_a_bad_event() -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(champion="2", challenger="3")
    registry.load_error = KeyError("files")
    bad = CODEC.decode(_changed("2"))
    good = CODEC.decode(_changed("3", "challenger", 0.1))
    heal = lambda: setattr(registry, "load_error", None)  # noqa: E731
    _listening(rt, [[bad, good]], between=heal).run()  # returns once stopped
    assert rt.verifier.champion.model_version == "1"
    assert rt.verifier.challenger is not None and rt.verifier.challenger.model_version == "3"


def test_the_reload_thread_survives_a_failing_reader() -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(challenger="3")
    reloader = _listening(rt, [RuntimeError("broker gone"),
                               [CODEC.decode(_changed("3", "challenger"))]])
    reloader.run()
    assert reloader.reader.calls == 2  # type: ignore[attr-defined]
    assert rt.verifier.challenger is not None


def test_an_event_the_registry_contradicts_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(champion="3")  # e.g. rolled back since the event was sent
    with caplog.at_level(logging.WARNING, "examgate.model_reload"):
        _reloader(rt).handle(_changed("2"))
    assert rt.verifier.champion.model_version == "1"
    assert any("registry" in r.getMessage() for r in caplog.records)


def test_the_registry_confirms_the_version_before_it_is_loaded() -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(challenger="4")
    _reloader(rt).handle(_changed("4", "challenger", 0.25))
    assert rt.verifier.challenger is not None and rt.verifier.challenger.model_version == "4"
    assert rt.verifier.canary_fraction == 0.25


def test_a_canary_fraction_outside_zero_to_one_is_ignored() -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(challenger="4")
    _reloader(rt).handle(_changed("4", "challenger", 3.0))
    assert rt.verifier.challenger is None
    assert rt.verifier.canary_fraction == 0.0


def test_a_challenger_drop_stands_only_when_the_registry_has_no_challenger() -> None:
    rt, registry = _runtime()
    registry.alias_to_version.update(challenger="4")
    reloader = _reloader(rt)
    reloader.handle(_changed("4", "challenger"))
    reloader.handle(_changed("none", "challenger"))
    assert rt.verifier.challenger is not None  # the registry still names a challenger
    del registry.alias_to_version["challenger"]
    reloader.handle(_changed("none", "challenger"))
    assert rt.verifier.challenger is None
