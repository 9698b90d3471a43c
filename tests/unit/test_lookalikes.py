"""Look-alikes: linked at enrollment, both ways; an ACCEPT that also fits one is REVIEW."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from face_stubs import FrameAnalyzer, checkin, mix, template, unit

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core.codec import EventCodec
from examgate.core.lookalikes import find_lookalikes, guard, link, pairs_among
from examgate.core.policy import ACCEPT, REJECT, REVIEW, Thresholds, Verdict
from examgate.core.ports import Template, TemplateStoreError
from examgate.core.verify import Verifier

T = Thresholds(accept=0.5, reject=0.3, replay=0.98)
RNG = np.random.default_rng(7)


ANNA = unit(RNG.normal(size=128))
HANNA = mix(ANNA, unit(RNG.normal(size=128)), 0.6)  # Anna's sister: cosine ~0.8
STRANGER = unit(RNG.normal(size=128))


def _template(student: str, emb: np.ndarray, version: str = "1") -> Template:
    return template(student, emb, RNG, version)


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

    between = mix(ANNA, HANNA, 0.5)  # fits both about equally
    held = judge(between)
    assert (held.outcome, held.reason) == (REVIEW, "LOOKALIKE") and "hanna" in held.detail
    # Anna today, clearly closer to her own template though Hanna scores above the reject
    # threshold too: the margin keeps her ACCEPT (most genuine check-ins look like this).
    anna_today = mix(ANNA, unit(RNG.normal(size=128)), 0.85)
    assert float(HANNA @ anna_today) >= T.reject
    assert float(ANNA @ anna_today) - float(HANNA @ anna_today) > 0.05
    assert judge(anna_today) == accept
    # Hanna herself claiming to be Anna fits her own template better: REVIEW.
    assert judge(mix(HANNA, unit(RNG.normal(size=128)), 0.9)).reason == "LOOKALIKE"
    unlike_hanna = unit(ANNA - float(ANNA @ HANNA) * HANNA)  # similarity 0 to Hanna
    assert judge(unlike_hanna) == accept
    reject = Verdict(REJECT, "NO_MATCH", "")
    assert guard(reject, between, 0.2, rivals, T) == reject  # only ACCEPTs are held
    assert guard(accept, between, 0.7, {}, T) == accept


def test_the_verifier_compares_a_check_in_with_the_claimed_students_look_alikes():
    store = MemoryTemplateStore()
    store.put(_template("anna", ANNA))
    store.put(link(store, _template("hanna", HANNA), at=T.reject))
    store.put(_template("solo", STRANGER))
    analyzer = FrameAnalyzer({b"anna-today": mix(ANNA, HANNA, 0.55),
                              b"solo-today": mix(STRANGER, unit(RNG.normal(size=128)), 0.8)},
                             T, RNG)
    verifier = Verifier(store, MemoryObjectStore(), "frames", analyzer)

    d = verifier.verify(checkin(b"anna-today", "anna")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LOOKALIKE")
    EventCodec().encode("Decision", d)  # a valid Decision (ReasonCode has the symbol)
    d = verifier.verify(checkin(b"solo-today", "solo")).decision
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
                        FrameAnalyzer({b"anna-today": mix(ANNA, STRANGER, 0.9)}, T, RNG))
    d = verifier.verify(checkin(b"anna-today", "anna")).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "TEMPLATE_UNAVAILABLE")


def test_the_registrars_report_lists_each_pair_once():
    store = MemoryTemplateStore()
    store.put(_template("anna", ANNA))
    store.put(_template("stranger", STRANGER))
    store.put(link(store, _template("hanna", HANNA), at=T.reject))
    listed = pairs_among(store.get_many(store.students("1"), "1").values())
    assert [(a, b) for a, b, _ in listed] == [("anna", "hanna")]
    assert listed[0][2] == pytest.approx(float(ANNA @ HANNA), abs=1e-6)
    assert pairs_among(store.get_many(store.students("2"), "2").values()) == []
