"""Look-alikes: linked at enrollment, both ways; an ACCEPT that also fits one is REVIEW."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.lookalikes import find_lookalikes, guard, link, pairs
from examgate.core.matching import Analysis, LivenessReading
from examgate.core.policy import ACCEPT, REJECT, REVIEW, Thresholds, Verdict
from examgate.core.ports import Template, TemplateStoreError
from examgate.core.verify import LivenessModel, Verifier

T = Thresholds(accept=0.5, reject=0.3, replay=0.98)
RNG = np.random.default_rng(7)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return _unit(w * a + (1 - w) * b)


ANNA = _unit(RNG.normal(size=128))
HANNA = _mix(ANNA, _unit(RNG.normal(size=128)), 0.6)  # Anna's sister: cosine ~0.8
STRANGER = _unit(RNG.normal(size=128))


def _template(student: str, emb: np.ndarray, version: str = "1") -> Template:
    return Template.from_embeddings(student, version, emb[None],
                                    RNG.integers(0, 255, (1, 32, 32)).astype(np.uint8))


def test_look_alikes_survive_the_store_and_old_templates_have_none():
    t = dataclasses.replace(_template("anna", ANNA), lookalikes=(("hanna", 0.81),))
    assert Template.from_bytes(t.to_bytes()).lookalikes == (("hanna", 0.81),)
    buf = io.BytesIO()  # a template written before look-alikes were kept
    np.savez(buf, embedding=t.embedding, image_embeddings=t.image_embeddings,
             thumbnails=t.thumbnails, meta=np.array(["anna", "1"]))
    assert Template.from_bytes(buf.getvalue()).lookalikes == ()


def test_enrolling_links_look_alikes_both_ways_within_one_model_version():
    store = MemoryTemplateStore()
    for t in (_template("anna", ANNA), _template("stranger", STRANGER),
              _template("anna-v2", ANNA, version="2")):
        store.put(t)
    hanna = link(store, _template("hanna", HANNA), at=T.reject)
    assert [s for s, _ in hanna.lookalikes] == ["anna"]  # not the stranger, not version 2
    assert hanna.lookalikes[0][1] == pytest.approx(float(ANNA @ HANNA), abs=1e-6)
    assert [s for s, _ in store.get("anna", "1").lookalikes] == ["hanna"]
    assert store.get("stranger", "1").lookalikes == ()
    # Enrolled again (REPLACE): no duplicate entry on Anna's side.
    link(store, _template("hanna", HANNA), at=T.reject)
    assert [s for s, _ in store.get("anna", "1").lookalikes] == ["hanna"]
    assert find_lookalikes(_template("anna", ANNA), [_template("anna", ANNA)], 0.0) == ()


def test_an_accept_that_fits_a_look_alike_almost_as_well_goes_to_a_proctor():
    accept = Verdict(ACCEPT, "MATCH", "similarity 0.700 >= 0.500")
    rivals = {"hanna": _template("hanna", HANNA)}

    def judge(probe: np.ndarray) -> Verdict:
        return guard(accept, probe, float(ANNA @ probe), rivals, T, margin=0.05)

    between = _mix(ANNA, HANNA, 0.5)  # fits both about equally
    held = judge(between)
    assert (held.outcome, held.reason) == (REVIEW, "LOOKALIKE") and "hanna" in held.detail
    # Anna today, clearly closer to her own template though Hanna scores above the reject
    # threshold too: the margin keeps her ACCEPT (most genuine check-ins look like this).
    anna_today = _mix(ANNA, _unit(RNG.normal(size=128)), 0.85)
    assert float(HANNA @ anna_today) >= T.reject
    assert float(ANNA @ anna_today) - float(HANNA @ anna_today) > 0.05
    assert judge(anna_today) == accept
    # Hanna herself claiming to be Anna fits her own template better: REVIEW.
    assert judge(_mix(HANNA, _unit(RNG.normal(size=128)), 0.9)).reason == "LOOKALIKE"
    unlike_hanna = _unit(ANNA - float(ANNA @ HANNA) * HANNA)  # similarity 0 to Hanna
    assert judge(unlike_hanna) == accept
    reject = Verdict(REJECT, "NO_MATCH", "")
    assert guard(reject, between, 0.2, rivals, T) == reject  # only ACCEPTs are held
    assert guard(accept, between, 0.7, {}, T) == accept


class _Analyzer:
    model_version = "1"
    thresholds = T
    liveness_model = LivenessModel(0.8, 0.3, "antispoof_v2:4eed38f0")

    def __init__(self, frames: dict[bytes, np.ndarray]) -> None:
        self.frames = frames

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        return Analysis(1, {"sharpness": 100.0}, (), self.frames[image],
                        RNG.integers(0, 255, (32, 32)).astype(np.uint8), {},
                        liveness=LivenessReading(0.95, 5, False, {}))


def _checkin(frame: bytes, student: str) -> dict:
    return events.checkin(gate_id="g1", exam_id="e1", claimed_student_id=student,
                          frame=events.inline_frame(frame), camera_meta=events.camera("c", 1, 1))


def test_the_verifier_compares_a_check_in_with_the_claimed_students_look_alikes():
    store = MemoryTemplateStore()
    store.put(_template("anna", ANNA))
    store.put(link(store, _template("hanna", HANNA), at=T.reject))
    store.put(_template("solo", STRANGER))
    analyzer = _Analyzer({b"anna-today": _mix(ANNA, HANNA, 0.55),
                          b"solo-today": _mix(STRANGER, _unit(RNG.normal(size=128)), 0.8)})
    verifier = Verifier(store, MemoryObjectStore(), "frames", analyzer)

    d = verifier.verify(_checkin(b"anna-today", "anna")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LOOKALIKE")
    EventCodec().encode("Decision", d)  # a valid Decision (ReasonCode has the symbol)
    d = verifier.verify(_checkin(b"solo-today", "solo")).decision
    assert (d["outcome"], d["reason"]) == ("ACCEPT", "MATCH")  # no look-alike, no change


def test_a_look_alike_that_cannot_be_read_fails_closed():
    class Flaky(MemoryTemplateStore):
        def get(self, student_id: str, model_version: str) -> Template | None:
            if student_id == "hanna":
                raise TemplateStoreError("redis went away")
            return super().get(student_id, model_version)

    store = Flaky()
    store.put(dataclasses.replace(_template("anna", ANNA), lookalikes=(("hanna", 0.8),)))
    verifier = Verifier(store, MemoryObjectStore(), "frames",
                        _Analyzer({b"anna-today": _mix(ANNA, STRANGER, 0.9)}))
    d = verifier.verify(_checkin(b"anna-today", "anna")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "TEMPLATE_UNAVAILABLE")


def test_the_registrars_report_lists_each_pair_once():
    store = MemoryTemplateStore()
    store.put(_template("anna", ANNA))
    store.put(_template("stranger", STRANGER))
    store.put(link(store, _template("hanna", HANNA), at=T.reject))
    listed = pairs(store, "1")
    assert [(a, b) for a, b, _ in listed] == [("anna", "hanna")]
    assert listed[0][2] == pytest.approx(float(ANNA @ HANNA), abs=1e-6)
    assert pairs(store, "2") == []
