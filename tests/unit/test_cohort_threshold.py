"""The accept threshold among the enrolled: raised by how far their pair-score tail lies above
the calibration people's, never lowered, and recorded in each decision."""

from __future__ import annotations

import dataclasses
import logging
import zlib

import numpy as np
import pytest
from face_stubs import FrameAnalyzer, checkin, mix, template, unit

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.registry import ModelBundle
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core.cohort import (
    TAIL_MIN_STUDENTS,
    Cohort,
    CohortCache,
    tail_in_words,
    tail_score,
    thresholds_among,
)
from examgate.core.policy import Thresholds
from examgate.core.ports import Template
from examgate.core.settings import Settings
from examgate.core.verify import Verifier
from examgate.models.analyzer import served_thresholds
from examgate.models.calibration import calibrate_thresholds, one_template_each

RNG = np.random.default_rng(5)
DIM = 128


def _faces(n: int, alike: float = 0.0, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors; ``alike`` > 0 gives them a shared direction (one camera, one
    population), which moves their whole pair-score distribution up."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=DIM)
    return np.stack([mix(common / np.linalg.norm(common), unit(rng.normal(size=DIM)), alike)
                     for _ in range(n)])


def _seen_at(face: np.ndarray, similarity: float) -> np.ndarray:
    """A face at the gate that fits ``face``'s template at exactly ``similarity``."""
    other = unit(RNG.normal(size=DIM))
    other = unit(other - (other @ face) * face)
    return unit(similarity * face + np.sqrt(1 - similarity ** 2) * other)


def _keys(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _tail(faces: np.ndarray) -> float | None:
    return tail_score(faces, _keys(len(faces)))


def _pairs(rows: np.ndarray) -> np.ndarray:
    return (rows @ rows.T)[np.triu_indices(len(rows), 1)]


CALIBRATION_TAIL = _tail(_faces(300, seed=1))
T = Thresholds(accept=0.5, reject=0.3, replay=0.98, cohort_tail=CALIBRATION_TAIL)


def _cohort(faces: np.ndarray) -> Cohort:
    return Cohort("1", tuple(_keys(len(faces))), faces)


def test_the_tail_is_the_score_above_which_one_pair_in_a_hundred_lies():
    faces = _faces(120)
    assert _tail(faces) == pytest.approx(float(np.quantile(_pairs(faces), 0.99)))
    assert np.mean(_pairs(faces) > _tail(faces)) == pytest.approx(0.01, abs=1e-3)
    assert _tail(faces[:TAIL_MIN_STUDENTS - 1]) is None  # too few pairs to say
    assert _tail(faces[:TAIL_MIN_STUDENTS]) is not None
    with pytest.raises(ValueError, match="keys"):
        tail_score(faces, _keys(3))


def test_a_large_cohort_is_read_from_a_draw_that_one_enrollment_barely_changes():
    many, keys = _faces(901), _keys(901)
    drawn = tail_score(many[:900], keys[:900], sample=300)
    assert drawn == pytest.approx(_tail(many[:900]), abs=0.01)  # close to all of them
    assert drawn != _tail(many[:900])
    # The 901st student hashes outside the 300 drawn (or replaces one of them): the tail
    # stays put or moves by one student's pairs, not a whole new draw's.
    hashes = sorted(zlib.crc32(k.encode()) for k in keys[:900])
    newcomer = zlib.crc32(keys[900].encode())
    after = tail_score(many, keys, sample=300)
    if newcomer > hashes[299]:
        assert after == drawn
    else:
        assert after == pytest.approx(drawn, abs=0.005)


def test_an_alike_cohort_raises_the_accept_threshold_by_how_far_its_tail_moved():
    alike = _cohort(_faces(60, alike=0.3, seed=2))
    shift = alike.tail - CALIBRATION_TAIL
    assert shift > 0.05
    raised = thresholds_among(T, alike)
    assert raised.accept == pytest.approx(T.accept + shift)
    assert dataclasses.replace(raised, accept=T.accept) == T  # nothing else moves


@pytest.mark.parametrize("case", ["unalike", "too few", "no cohort", "old version"])
def test_nothing_lowers_the_threshold_or_moves_it_without_both_tails(case: str):
    cohort = {"unalike": _cohort(_faces(60, seed=3)),
              "too few": _cohort(_faces(TAIL_MIN_STUDENTS - 1, alike=0.3, seed=2)),
              "no cohort": None,
              "old version": _cohort(_faces(60, alike=0.3, seed=2))}[case]
    thresholds = {"old version": dataclasses.replace(T, cohort_tail=None),
                  # calibrated on people more alike than these students
                  "unalike": dataclasses.replace(T, cohort_tail=_tail(_faces(60, 0.3, 7)))
                  }.get(case, T)
    assert thresholds_among(thresholds, cohort) == thresholds


def test_a_cohort_of_near_copies_keeps_a_valid_threshold_below_the_replay_one():
    copies = _cohort(_faces(50, alike=0.97, seed=4))
    raised = thresholds_among(T, copies)
    assert T.accept < raised.accept < T.replay


def test_calibration_measures_the_tail_of_one_template_per_person():
    people = [f"p{i}" for i in range(80) for _ in range(2)]
    faces = np.repeat(_faces(80, seed=6), 2, axis=0)
    faces[1::2] = [mix(f, unit(RNG.normal(size=DIM)), 0.8) for f in faces[1::2]]
    templates = np.stack([mix(f, unit(RNG.normal(size=DIM)), 0.9) for f in faces])
    rows, whose = one_template_each(people, faces)
    assert rows.tolist() == faces[0::2].tolist() and whose == people[0::2]
    fit = calibrate_thresholds(people, faces, templates=templates)
    assert fit.thresholds.cohort_tail == tail_score(templates[0::2], people[0::2])
    assert calibrate_thresholds(people[:20], faces[:20]).thresholds.cohort_tail is None


def test_thresholds_carry_the_tail_in_the_spec_but_not_in_the_decision_record():
    assert T.as_spec() == {**T.as_record(), "cohort_tail": CALIBRATION_TAIL}
    assert "cohort_tail" not in T.as_record()
    assert Thresholds(**T.as_spec()) == T
    assert "cohort_tail" not in dataclasses.replace(T, cohort_tail=None).as_spec()
    for bad in (float("nan"), 1.5):
        with pytest.raises(ValueError, match="cohort_tail"):
            dataclasses.replace(T, cohort_tail=bad)


def test_the_verifier_serves_the_raised_threshold_and_records_it():
    faces = _faces(60, alike=0.3, seed=2)
    store = MemoryTemplateStore()
    for i, face in enumerate(faces):
        store.put(template(f"s{i}", face, RNG))
    raised = thresholds_among(T, _cohort(faces)).accept
    # s0 at the gate, fitting their template between the calibrated and the raised threshold.
    today = _seen_at(faces[0], (T.accept + raised) / 2)
    assert T.accept < float(faces[0] @ today) < raised
    frames = {b"s0-today": today}

    def decide(**kw) -> dict:
        verifier = Verifier(store, MemoryObjectStore(), "frames",
                            FrameAnalyzer(frames, T, RNG), cohort_check=False, **kw)
        return verifier.verify(checkin(b"s0-today", "s0")).decision

    on, off = decide(), decide(cohort_threshold=False)
    assert (off["outcome"], off["thresholds"]["accept"]) == ("ACCEPT", T.accept)
    assert on["outcome"] == "REVIEW" and on["thresholds"]["accept"] == pytest.approx(raised)
    assert on["similarity"] == off["similarity"]


def test_an_offline_evaluation_judges_with_the_threshold_the_gate_would_serve(tmp_path):
    from examgate.models.evaluate import read_photo_set, run_evaluation, summarise
    from examgate.models.evaluate_cli import write_report

    faces = _faces(45, alike=0.3, seed=2)
    between = (T.accept + thresholds_among(T, _cohort(faces)).accept) / 2
    frames = {}
    for i, face in enumerate(faces):  # each person's second photo fits between the two
        (tmp_path / f"p{i:02d}").mkdir()
        for n, seen in enumerate((face, _seen_at(face, between))):
            frames[f"p{i:02d}-{n}".encode()] = seen
            (tmp_path / f"p{i:02d}" / f"{n}.jpg").write_bytes(f"p{i:02d}-{n}".encode())
    analyzer = FrameAnalyzer(frames, T, RNG)
    ev = run_evaluation(analyzer, read_photo_set(tmp_path), cohort_check=False)
    raised = thresholds_among(T, _cohort(np.stack([t.embedding for t in
                                                   ev.templates.values()])))
    assert ev.thresholds == raised and raised.accept > T.accept + 0.05
    report = summarise(ev, analyzer, {}, liveness="assume-live")
    assert report["thresholds"]["accept"] == raised.accept
    assert report["thresholds"]["calibrated_accept"] == T.accept
    report.update(photos=str(tmp_path), target_far=T.accept_far)
    page = write_report(report, tmp_path / "report").read_text()
    assert f"raised from the version's {T.accept:.4f}" in page
    calibrated = run_evaluation(analyzer, read_photo_set(tmp_path), cohort_check=False,
                                cohort_threshold=False)
    assert calibrated.thresholds == T
    assert calibrated.claims.rates(True)["accept_rate"] == 1.0
    assert ev.claims.rates(True)["review_rate"] == 1.0  # a proctor looks instead


def test_students_enrolled_with_several_photos_are_compared_by_their_first_photo():
    """An averaged template's pair scores spread less than one photo's: that says how many
    photos were taken, not how alike the students are. The calibration people had one each."""
    faces = _faces(60, seed=8)
    seconds = np.stack([mix(f, unit(RNG.normal(size=DIM)), 0.6) for f in faces])
    one = Cohort.of("1", [Template.from_embeddings(k, "1", f[None]) for k, f in
                          zip(_keys(60), faces, strict=True)])
    two = Cohort.of("1", [Template.from_embeddings(k, "1", np.stack([f, g])) for k, f, g in
                          zip(_keys(60), faces, seconds, strict=True)])
    assert not np.allclose(two.embeddings, one.embeddings)  # the templates are averaged
    assert two.tail == one.tail == _tail(faces)
    assert two.without("s0").tail == _tail(faces[1:])


def test_the_registrar_is_told_why_the_threshold_is_what_it_is():
    alike = _cohort(_faces(60, alike=0.3, seed=2))
    raised = thresholds_among(T, alike)
    words = tail_in_words(T, raised, alike)
    assert f"{raised.accept:.4f}" in words and f"{T.accept:.4f} +" in words
    assert f"{alike.tail:.4f}" in words and f"{CALIBRATION_TAIL:.4f}" in words
    unalike = dataclasses.replace(T, cohort_tail=0.99)
    assert "nothing is added" in tail_in_words(unalike, unalike, alike)
    old = dataclasses.replace(T, cohort_tail=None)
    assert "registered before" in tail_in_words(old, old, alike)
    few = _cohort(_faces(TAIL_MIN_STUDENTS - 1, alike=0.3, seed=2))
    assert f"under {TAIL_MIN_STUDENTS} students" in tail_in_words(T, T, few)


def test_a_configured_floor_and_the_raise_serve_the_higher_not_their_sum():
    alike = _cohort(_faces(60, alike=0.3, seed=2))
    shift = alike.tail - CALIBRATION_TAIL
    bundle = ModelBundle("m", "1", "yunet", "sface", {}, T)

    def served(floor: float | None) -> float:
        settings = Settings().model_copy(update={"checkin": Settings().checkin.model_copy(
            update={"accept_at_least": floor})})
        return thresholds_among(served_thresholds(bundle, settings), alike).accept

    assert served(None) == pytest.approx(T.accept + shift)
    assert served(T.accept + shift / 2) == pytest.approx(T.accept + shift)  # the raise
    assert served(T.accept + 2 * shift) == pytest.approx(T.accept + 2 * shift)  # the floor


def test_a_worker_measures_and_logs_the_tail_only_when_it_raises_by_it(caplog, monkeypatch):
    store = MemoryTemplateStore()
    for i, face in enumerate(_faces(45, seed=9)):
        store.put(template(f"s{i}", face, RNG))
    # MLflow's migrations (an earlier test) configure logging with disable_existing_loggers.
    monkeypatch.setattr(logging.getLogger("examgate.cohort"), "disabled", False)
    with caplog.at_level(logging.INFO, logger="examgate.cohort"):
        measured = CohortCache(store).get("1")
        skipped = CohortCache(store, measure_tail=False).get("1")
    assert "tail" in measured.__dict__ and "tail" not in skipped.__dict__
    assert len(caplog.records) == 1 and "45 students enrolled" in caplog.records[0].message
    assert f"{measured.tail:.4f}" in caplog.records[0].message
