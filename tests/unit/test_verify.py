"""The verifier with in-memory ports and a fake analyzer: reasons, fail-closed paths, replay."""

from __future__ import annotations

import numpy as np
import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.matching import Analysis, LivenessModel, LivenessReading
from examgate.core.policy import Thresholds
from examgate.core.ports import Template
from examgate.core.verify import Verifier

T = Thresholds(accept=0.5, reject=0.3, replay=0.98)
RNG = np.random.default_rng(1)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


ALICE = _unit(RNG.normal(size=128))
ALICE_THUMB = RNG.integers(0, 255, (32, 32)).astype(np.uint8)


class FakeAnalyzer:
    """Returns the analysis registered for a frame's bytes."""

    model_version = "1"
    thresholds = T
    liveness_model: LivenessModel | None = LivenessModel(0.8, 0.3, "antispoof_v2:4eed38f0")

    def __init__(self) -> None:
        self.by_frame: dict[bytes, Analysis] = {}
        self.broken = False
        self.bursts: list[list[bytes]] = []

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        if self.broken:
            raise RuntimeError("onnxruntime exploded")
        self.bursts.append(list(burst))
        return self.by_frame[image]


LIVE = LivenessReading(0.95, 5, False, {"antispoof": 0.97, "motion_px": 1.5})


def _face(emb: np.ndarray, thumb: np.ndarray, **kw) -> Analysis:
    args = dict(face_count=1, quality={"sharpness": 100.0}, quality_failures=(),
                embedding=emb, thumbnail=thumb, stage_ms={"detect": 1.0}, liveness=LIVE)
    args.update(kw)
    return Analysis(**args)


@pytest.fixture
def world():
    templates, objects, analyzer = MemoryTemplateStore(), MemoryObjectStore(), FakeAnalyzer()
    templates.put(Template.from_embeddings("alice", "1", ALICE[None], ALICE_THUMB[None]))
    genuine = _unit(ALICE + 0.6 * _unit(RNG.normal(size=128)))
    other_thumb = RNG.integers(0, 255, (32, 32)).astype(np.uint8)
    analyzer.by_frame = {
        b"genuine": _face(genuine, other_thumb),
        b"impostor": _face(_unit(RNG.normal(size=128)), other_thumb),
        b"replay": _face(ALICE, ALICE_THUMB),
        b"empty": _face(None, None, face_count=0),
        b"crowd": _face(genuine, other_thumb, face_count=3),
        b"blurry": _face(genuine, other_thumb, quality_failures=("BLURRY",)),
        b"garbage": _face(None, None, face_count=0, error="CORRUPT: not an image"),
    }
    return Verifier(templates, objects, "frames", analyzer), templates, objects, analyzer


def _checkin(frame: bytes, student: str = "alice") -> dict:
    return events.checkin(gate_id="g1", exam_id="e1", claimed_student_id=student,
                          frame=events.inline_frame(frame), camera_meta=events.camera("c", 1, 1))


@pytest.mark.parametrize(("frame", "student", "outcome", "reason"), [
    (b"genuine", "alice", "ACCEPT", "MATCH"),
    (b"impostor", "alice", "REJECT", "NO_MATCH"),
    (b"genuine", "bob", "REVIEW", "NOT_ENROLLED"),
    (b"replay", "alice", "REJECT", "REPLAY_SUSPECTED"),
    (b"empty", "alice", "REVIEW", "NO_FACE"),
    (b"crowd", "alice", "REVIEW", "MULTIPLE_FACES"),
    (b"blurry", "alice", "REVIEW", "LOW_QUALITY"),
    (b"garbage", "alice", "REVIEW", "NO_FACE"),
])
def test_outcomes(world, frame, student, outcome, reason) -> None:
    verifier, *_ = world
    result = verifier.verify(_checkin(frame, student))
    assert (result.decision["outcome"], result.decision["reason"]) == (outcome, reason)
    EventCodec().encode("Decision", result.decision)  # always schema-valid


def test_review_frames_are_kept(world) -> None:
    verifier, _, objects, _ = world
    d = verifier.verify(_checkin(b"blurry")).decision
    assert d["review_frame"] is not None
    assert objects.get("frames", d["review_frame"]["key"]) == b"blurry"
    assert verifier.verify(_checkin(b"genuine")).decision["review_frame"] is None


@pytest.mark.parametrize("breakage", ["templates", "objects", "model"])
def test_failures_fail_closed(world, breakage) -> None:
    verifier, templates, objects, analyzer = world
    checkin = _checkin(b"genuine")
    if breakage == "templates":
        templates.fail = True
    elif breakage == "model":
        analyzer.broken = True
    else:
        objects.fail = True
        ref = events.object_ref("frames", "incoming/g1/x", b"genuine")
        checkin["frame"] = ref
    d = verifier.verify(checkin).decision
    assert d["outcome"] == "REVIEW"
    assert d["reason"] in {"TEMPLATE_UNAVAILABLE", "INTERNAL_ERROR", "FRAME_UNAVAILABLE"}


def test_frame_by_reference_checked(world) -> None:
    verifier, _, objects, _ = world
    objects.put("frames", "incoming/g1/a", b"genuine")
    checkin = _checkin(b"genuine")
    checkin["frame"] = events.object_ref("frames", "incoming/g1/a", b"genuine")
    assert verifier.verify(checkin).decision["outcome"] == "ACCEPT"
    checkin["frame"] = events.object_ref("frames", "incoming/g1/a", b"tampered")
    assert verifier.verify(checkin).decision["reason"] == "FRAME_UNAVAILABLE"


def test_shadow_recorded_without_changing_decision(world) -> None:
    verifier, templates, _, analyzer = world
    challenger = FakeAnalyzer()
    challenger.model_version = "2"
    challenger.by_frame = analyzer.by_frame
    verifier.challenger = challenger
    d = verifier.verify(_checkin(b"genuine")).decision
    assert d["outcome"] == "ACCEPT" and d["model_version"] == "1"
    # No v2 template yet: the challenger would not have matched, and it never decides.
    assert d["shadow"]["model_version"] == "2" and d["shadow"]["reason"] == "NOT_ENROLLED"


def test_canary_gates_decide_with_the_challenger(world) -> None:
    from examgate.core.verify import in_canary

    verifier, templates, _, analyzer = world
    challenger = FakeAnalyzer()
    challenger.model_version = "2"
    challenger.by_frame = analyzer.by_frame
    templates.put(Template.from_embeddings("alice", "2", ALICE[None], ALICE_THUMB[None]))
    verifier.challenger = challenger
    verifier.canary_fraction = 1.0
    d = verifier.verify(_checkin(b"genuine")).decision
    assert d["model_version"] == "2" and d["shadow"]["model_version"] == "1"
    verifier.canary_fraction = 0.0
    assert verifier.verify(_checkin(b"genuine")).decision["model_version"] == "1"
    gates = [f"gate-{i}" for i in range(2000)]
    share = sum(in_canary(g, 0.25) for g in gates) / len(gates)
    assert 0.2 < share < 0.3
    assert [in_canary(g, 0.25) for g in gates] == [in_canary(g, 0.25) for g in gates]


# --- frame references: only the gate's own uploads, and never more than the size cap ---


class CountingStore(MemoryObjectStore):
    """Counts whole-object reads, so a test can tell that a refused object was never read."""

    def __init__(self) -> None:
        super().__init__()
        self.whole_reads = 0

    def get(self, bucket: str, key: str) -> bytes:
        self.whole_reads += 1
        return super().get(bucket, key)


@pytest.fixture
def guarded(world):
    """A verifier with a 64-byte frame cap over a store that counts whole reads."""
    _, templates, _, analyzer = world
    objects = CountingStore()
    return Verifier(templates, objects, "frames", analyzer, max_frame_bytes=64), objects


def _by_reference(objects: MemoryObjectStore, bucket: str, key: str, data: bytes,
                  gate: str = "g1") -> dict:
    objects.put(bucket, key, data)
    checkin = _checkin(b"unused")
    checkin["gate_id"] = gate
    checkin["frame"] = events.object_ref(bucket, key, data)
    return checkin


def test_a_gate_reads_its_own_uploads(guarded) -> None:
    verifier, objects = guarded
    d = verifier.verify(_by_reference(objects, "frames", "incoming/g1/e-1", b"genuine")).decision
    assert (d["outcome"], d["reason"]) == ("ACCEPT", "MATCH")


@pytest.mark.parametrize(("bucket", "key"), [
    ("enrollment", "incoming/g1/e-1"),  # another bucket: an enrollment photo would match
    ("frames", "incoming/g2/e-1"),  # another gate's upload
    ("frames", "review/alice/e-1.jpg"),  # a frame kept for the console
    ("frames", "incoming/g1/../g2/e-1"),
    ("frames", "incoming/g1/sub/e-1"),
    ("frames", "incoming/g1/"),
])
def test_a_foreign_reference_is_refused_unread(guarded, bucket: str, key: str) -> None:
    verifier, objects = guarded
    d = verifier.verify(_by_reference(objects, bucket, key, b"genuine")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT"), d["reason_detail"]
    assert objects.whole_reads == 0 and d["review_frame"] is None
    EventCodec().encode("Decision", d)


def test_a_gate_id_cannot_widen_its_prefix(guarded) -> None:
    verifier, objects = guarded  # gate "g1/.." would otherwise own incoming/g1/../<anything>
    d = verifier.verify(_by_reference(objects, "frames", "incoming/g1/../e-1", b"genuine",
                                      gate="g1/..")).decision
    assert d["reason"] == "INVALID_EVENT"


def test_an_object_over_the_cap_is_refused_before_it_is_read(guarded) -> None:
    verifier, objects = guarded
    big = b"genuine" + b"\0" * 100
    d = verifier.verify(_by_reference(objects, "frames", "incoming/g1/e-1", big)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "FRAME_UNAVAILABLE")
    assert "64" in d["reason_detail"]
    assert objects.whole_reads == 0


def test_an_object_that_lies_about_its_size_is_still_bounded(guarded) -> None:
    verifier, objects = guarded
    checkin = _by_reference(objects, "frames", "incoming/g1/e-1", b"genuine")
    objects.put("frames", "incoming/g1/e-1", b"x" * 1000)  # replaced after the event was sent
    d = verifier.verify(checkin).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "FRAME_UNAVAILABLE")
    assert objects.whole_reads == 0


def test_an_inline_frame_over_the_cap_is_refused(guarded) -> None:
    verifier, _ = guarded
    d = verifier.verify(_checkin(b"genuine" * 20)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "FRAME_UNAVAILABLE")


def test_the_cap_defaults_to_the_vision_settings_limit(world) -> None:
    from examgate.core.settings import VisionSettings

    verifier, *_ = world
    assert verifier.max_frame_bytes == VisionSettings().max_image_bytes


def test_a_store_without_bounded_reads_is_still_checked(world) -> None:
    from examgate.core.ports import ObjectStore

    class PlainStore(ObjectStore):
        def __init__(self) -> None:
            self.inner = MemoryObjectStore()

        def put(self, bucket, key, data, content_type="application/octet-stream") -> None:
            self.inner.put(bucket, key, data)

        def get(self, bucket, key) -> bytes:
            return self.inner.get(bucket, key)

        def delete(self, bucket, key) -> None:
            self.inner.delete(bucket, key)

        def delete_prefix(self, bucket, prefix) -> int:
            return self.inner.delete_prefix(bucket, prefix)

        def keys(self, bucket, prefix="") -> list[str]:
            return self.inner.keys(bucket, prefix)

    _, templates, _, analyzer = world
    store = PlainStore()
    verifier = Verifier(templates, store, "frames", analyzer, max_frame_bytes=64)
    checkin = _by_reference(store.inner, "frames", "incoming/g1/e-1", b"genuine")
    assert verifier.verify(checkin).decision["reason"] == "MATCH"
    store.inner.put("frames", "incoming/g1/e-1", b"x" * 1000)
    assert verifier.verify(checkin).decision["reason"] == "FRAME_UNAVAILABLE"


@pytest.mark.parametrize(("age_s", "why"), [(3600.0, "ago"), (-600.0, "in the future")])
def test_a_stale_or_future_capture_is_not_accepted(world, age_s: float, why: str) -> None:
    """The same check-in captured an hour earlier, replayed: a review, never an ACCEPT
    (review finding 8). Clocks drift a little, so the limits are settings, not zero."""
    from datetime import UTC, datetime, timedelta

    verifier, *_ = world
    record = _checkin(b"genuine")
    record["captured_at"] = datetime.now(UTC) - timedelta(seconds=age_s)
    result = verifier.verify(record)
    assert (result.decision["outcome"], result.decision["reason"]) == ("REVIEW",
                                                                      "INVALID_EVENT")
    assert why in result.decision["reason_detail"]


def test_a_fresh_capture_is_decided_as_usual(world) -> None:
    from datetime import UTC, datetime, timedelta

    verifier, *_ = world
    record = _checkin(b"genuine")
    record["captured_at"] = datetime.now(UTC) - timedelta(seconds=30)
    assert verifier.verify(record).decision["outcome"] == "ACCEPT"
