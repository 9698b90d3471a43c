"""The verifier with in-memory ports and a fake analyzer: reasons, fail-closed paths, replay."""

from __future__ import annotations

import numpy as np
import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.policy import Thresholds
from examgate.core.ports import Template
from examgate.core.verify import Analysis, Verifier

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

    def __init__(self) -> None:
        self.by_frame: dict[bytes, Analysis] = {}
        self.broken = False

    def analyse(self, image: bytes) -> Analysis:
        if self.broken:
            raise RuntimeError("onnxruntime exploded")
        return self.by_frame[image]


def _face(emb: np.ndarray, thumb: np.ndarray, **kw) -> Analysis:
    args = dict(face_count=1, quality={"sharpness": 100.0}, quality_failures=(),
                embedding=emb, thumbnail=thumb, stage_ms={"detect": 1.0})
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
        ref = events.object_ref("frames", "in/x.jpg", b"genuine")
        checkin["frame"] = ref
    d = verifier.verify(checkin).decision
    assert d["outcome"] == "REVIEW"
    assert d["reason"] in {"TEMPLATE_UNAVAILABLE", "INTERNAL_ERROR", "FRAME_UNAVAILABLE"}


def test_frame_by_reference_checked(world) -> None:
    verifier, _, objects, _ = world
    objects.put("frames", "in/a.jpg", b"genuine")
    checkin = _checkin(b"genuine")
    checkin["frame"] = events.object_ref("frames", "in/a.jpg", b"genuine")
    assert verifier.verify(checkin).decision["outcome"] == "ACCEPT"
    checkin["frame"] = events.object_ref("frames", "in/a.jpg", b"tampered")
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
