"""Canary, promotion and rollback while the processors keep deciding, exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from streaming_world import (
    check_in,
    decisions,
    decisions_on_topic,
    enroll,
    make_world,
    people,
)

from examgate.adapters import factory as ports
from examgate.core.settings import Settings
from examgate.models.promotion import PREVIOUS, canary, promote, rollback
from examgate.vision.model_files import locate_model

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """A worker on this module's own topics."""
    yield from make_world(stack, metrics_port=9480)


def _register_flip_variant(settings: Settings) -> str:
    """A second, different model version: the same networks with flip test-time augmentation."""
    registry = ports.model_registry(settings)
    champion = registry.load("champion")
    return registry.register(
        detector=champion.detector, embedder=champion.embedder,
        files={**champion.files, "detector": locate_model("yunet").path,
               "embedder": locate_model("sface").path},
        thresholds=champion.thresholds, spec={**champion.spec, "flip_tta": True},
        experiment=settings.mlflow.experiment, run_name="flip-variant")


def _wait_model(world: dict, student: str, probe: bytes, version: str, timeout: float = 60):
    """Check in until a decision comes from ``version`` (the reload is asynchronous)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        eid = check_in(world, student, probe)
        if decisions(world, [eid])[eid]["model_version"] == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"processors never decided with version {version}")


def test_canary_promote_rollback_under_load(world: dict) -> None:
    s = world["settings"]
    registry = ports.model_registry(s)
    original = registry.resolve("champion")
    cohort = people(s, 10)[6:10]
    students = []
    for name, imgs in cohort:
        sid = f"{name}-{uuid.uuid4().hex[:6]}"
        enroll(world, sid, imgs[0].read_bytes())
        students.append((sid, imgs[1].read_bytes()))
    candidate = _register_flip_variant(s)

    sent: list[str] = []
    stop = threading.Event()

    def load() -> None:  # ~8 check-ins/s across 4 gates until told to stop
        i = 0
        while not stop.is_set():
            sid, probe = students[i % len(students)]
            sent.append(check_in(world, sid, probe, gate=f"gate-{i % 4}"))
            i += 1
            time.sleep(0.12)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        report = canary(s, candidate, fraction=0.0)
        assert report.built >= len(students)
        promote(s)
        assert registry.resolve("champion") == candidate
        _wait_model(world, *students[0], version=candidate)
        rollback(s)
        assert registry.resolve("champion") == original
        assert registry.aliases()[PREVIOUS] == candidate
        _wait_model(world, *students[0], version=original)
    finally:
        stop.set()
        loader.join()
        if registry.resolve("champion") != original:
            rollback(s)
    got = decisions(world, sent, timeout=120)
    by_version = Counter(d["model_version"] for d in got.values())
    assert set(by_version) <= {original, candidate}
    # Every enrolled student had a template of the deciding version: never NOT_ENROLLED.
    assert {d["reason"] for d in got.values()}.isdisjoint({"NOT_ENROLLED", "INTERNAL_ERROR"})
    shadowed = [d for d in got.values() if d["shadow"] is not None]
    assert shadowed, "the challenger was never scored in shadow"
    # Exactly once, counted on the topic itself.
    counts = decisions_on_topic(world, sent)
    wanted = set(sent)
    assert set(counts) == wanted and max(counts.values()) == 1
