"""The verifier's liveness path: the burst reaches the analyzer, the policy judges liveness
before matching, and the evidence is in the Decision."""

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

RNG = np.random.default_rng(7)
ALICE = (lambda v: (v / np.linalg.norm(v)).astype(np.float32))(RNG.normal(size=64))
PROBE = (lambda v: (v / np.linalg.norm(v)).astype(np.float32))(ALICE + 0.05 * RNG.normal(size=64))
CODEC = EventCodec()


MODEL = LivenessModel(0.8, 0.3, "antispoof_v2:4eed")


class Analyzer:
    """One face that matches alice; its liveness reading is set by the test."""

    model_version = "3"
    thresholds = Thresholds(accept=0.5, reject=0.3, replay=0.98)

    def __init__(self, reading: LivenessReading | None,
                 model: LivenessModel | None = MODEL):
        self.reading = reading
        self.liveness_model = model
        self.bursts: list[list[bytes]] = []

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        self.bursts.append(list(burst))
        return Analysis(1, {}, (), PROBE, None, {"liveness": 4.0}, liveness=self.reading)


def _verifier(reading, model=MODEL, **kw):
    templates, objects = MemoryTemplateStore(), MemoryObjectStore()
    templates.put(Template.from_embeddings("alice", "3", ALICE[None], None))
    analyzer = Analyzer(reading, model)
    return Verifier(templates, objects, "frames", analyzer, **kw), analyzer, objects


def _checkin(extra: list[dict], gate: str = "g1") -> dict:
    return events.checkin(gate_id=gate, exam_id="e1", claimed_student_id="alice",
                          frame=events.inline_frame(b"primary"), extra_frames=extra,
                          camera_meta=events.camera("c", 1, 1))


BURST = [events.inline_frame(f"b{k}".encode()) for k in range(4)]
LIVE = LivenessReading(0.93, 5, False, {"antispoof": 0.9, "planarity": 0.4}, ())
ATTACK = LivenessReading(0.05, 5, False, {"antispoof": 0.2, "planarity": 0.01},
                         ("planar_motion", "edges"))


def test_a_live_burst_is_accepted_with_its_evidence() -> None:
    verifier, analyzer, _ = _verifier(LIVE)
    d = verifier.verify(_checkin(BURST)).decision
    assert (d["outcome"], d["reason"]) == ("ACCEPT", "MATCH")
    assert analyzer.bursts == [[b"b0", b"b1", b"b2", b"b3"]]
    assert d["liveness"]["verdict"] == "LIVE" and d["liveness"]["frames"] == 5
    assert d["liveness"]["signals"]["planarity"] == pytest.approx(0.4)
    assert d["liveness"]["models"] == "antispoof_v2:4eed"
    assert CODEC.decode(CODEC.encode("Decision", d)).record["liveness"]["verdict"] == "LIVE"


def test_an_attack_is_rejected_and_its_frames_kept_for_the_proctors() -> None:
    verifier, _, objects = _verifier(ATTACK)
    d = verifier.verify(_checkin(BURST)).decision
    assert (d["outcome"], d["reason"]) == ("REJECT", "PRESENTATION_ATTACK")
    assert "planar_motion" in d["reason_detail"]
    assert d["liveness"]["fired"] == ["planar_motion", "edges"]
    assert objects.get("frames", d["review_frame"]["key"]) == b"primary"
    assert [objects.get("frames", r["key"]) for r in d["review_burst"]] == \
        [b"b0", b"b1", b"b2", b"b3"]
    CODEC.encode("Decision", d)


def test_an_uncertain_score_goes_to_review() -> None:
    verifier, *_ = _verifier(LivenessReading(0.5, 5, False))
    d = verifier.verify(_checkin(BURST)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LIVENESS_UNCERTAIN")
    assert d["liveness"]["verdict"] == "UNCERTAIN" and len(d["review_burst"]) == 4


def test_one_frame_passes_only_at_a_single_frame_gate() -> None:
    single = LivenessReading(0.95, 1, True, {"antispoof": 0.95})
    verifier, *_ = _verifier(single, single_frame_gates=["kiosk-*"])
    d = verifier.verify(_checkin([], gate="g1")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LIVENESS_UNCERTAIN")
    assert "single-frame" in d["reason_detail"]
    d = verifier.verify(_checkin([], gate="kiosk-3")).decision
    assert (d["outcome"], d["reason"]) == ("ACCEPT", "MATCH")
    assert d["liveness"]["single_frame"] is True


def test_a_version_without_liveness_never_accepts() -> None:
    verifier, *_ = _verifier(None, model=None)
    d = verifier.verify(_checkin(BURST)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LIVENESS_UNCERTAIN")
    assert d["liveness"] is None
    CODEC.encode("Decision", d)


def test_no_reading_from_a_liveness_model_never_accepts() -> None:
    verifier, *_ = _verifier(None)
    d = verifier.verify(_checkin(BURST)).decision
    assert d["outcome"] == "REVIEW" and d["liveness"]["verdict"] == "NOT_CHECKED"


def test_the_burst_is_capped() -> None:
    verifier, analyzer, _ = _verifier(LIVE, max_extra_frames=2)
    verifier.verify(_checkin(BURST))
    assert analyzer.bursts == [[b"b0", b"b1"]]


def test_a_burst_frame_of_another_gate_is_refused() -> None:
    verifier, analyzer, objects = _verifier(LIVE)
    objects.put("frames", "incoming/g2/x-1", b"theirs", "image/jpeg")
    foreign = events.object_ref("frames", "incoming/g2/x-1", b"theirs")
    d = verifier.verify(_checkin([BURST[0], foreign])).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT")
    assert analyzer.bursts == []


def test_a_missing_burst_frame_is_left_out() -> None:
    verifier, analyzer, objects = _verifier(LIVE)
    missing = events.object_ref("frames", "incoming/g1/gone-1", b"never stored")
    d = verifier.verify(_checkin([BURST[0], missing])).decision
    assert analyzer.bursts == [[b"b0"]]
    assert d["outcome"] == "ACCEPT"


def test_the_decision_says_why_a_face_did_not_pass() -> None:
    still = LivenessReading(0.45, 5, False, {"antispoof": 0.9, "motion_px": 0.3}, (),
                            why="too little motion")
    verifier, *_ = _verifier(still)
    d = verifier.verify(_checkin(BURST)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LIVENESS_UNCERTAIN")
    assert d["liveness"]["why"] == "too little motion"
    assert "too little motion" in d["reason_detail"]
    assert CODEC.decode(CODEC.encode("Decision", d)).record["liveness"]["why"] == \
        "too little motion"
    # Below the pass threshold with nothing named: the score itself is the reason.
    verifier, *_ = _verifier(LivenessReading(0.5, 5, False))
    assert verifier.verify(_checkin(BURST)).decision["liveness"]["why"] == \
        "score below the pass threshold"
    # A face that passed has nothing to explain, whatever the reading carried.
    verifier, *_ = _verifier(LivenessReading(0.93, 5, False, {}, (), why="motion too flat"))
    assert verifier.verify(_checkin(BURST)).decision["liveness"]["why"] == ""
