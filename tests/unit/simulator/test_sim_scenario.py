"""Scenario files load, validate and plan deterministically; cohorts stay disjoint."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from examgate.models.lfw import names_in_pairs
from simulator.arrivals import (
    BurstArrivals,
    ParallelGatesArrivals,
    SteadyArrivals,
    arrival_schedule,
)
from simulator.cohort import (
    IdentityLeakError,
    Person,
    check_disjoint,
    load_gender_labels,
    person_gender,
    select_cohort,
)
from simulator.scenario import (
    Scenario,
    apportion,
    bundled_scenarios,
    load_scenario,
    plan_checkins,
)


def people(prefix: str, n: int, photos: int) -> list[Person]:
    return [Person(f"{prefix}_{i:04d}", tuple(f"/lfw/{prefix}_{i:04d}_{j:04d}.jpg"
                                              for j in range(1, photos + 1)),
                   ("female", "male", None)[i % 3]) for i in range(n)]


def nearest(path: str, ids: Sequence[str]) -> str:
    return ids[zlib.crc32(path.encode()) % len(ids)]


def cohort_for(s: Scenario) -> tuple[list[Person], list[Person]]:
    return people("student", s.cohort_size, 3), people("visitor", 200, 1)


def small(**overrides: object) -> dict:
    data = {"name": "t", "seed": 1, "cohort_size": 5, "checkins": 40, "gates": 3,
            "arrival": {"process": "steady", "rate_per_s": 10},
            "probes": [{"kind": k, "weight": 1.0} for k in
                       ("genuine", "impostor_random", "impostor_lookalike", "unenrolled",
                        "replay", "printed_photo", "no_face")]}
    data.update(overrides)
    return data


def test_bundled_scenarios_load_and_plan_deterministically() -> None:
    paths = bundled_scenarios()
    assert {p.stem for p in paths} >= {"smoke", "exam-day", "stress"}
    for path in paths:
        s = load_scenario(path)
        assert sum(s.counts().values()) == s.checkins
        students, others = cohort_for(s)
        a = plan_checkins(s, students, others, nearest=nearest)
        b = plan_checkins(s, students, others, np.random.default_rng(s.seed), nearest=nearest)
        assert a == b, f"{path.name} does not plan deterministically"
        assert len(a) == s.checkins
        c = plan_checkins(s, students, others, np.random.default_rng(s.seed + 1), nearest=nearest)
        assert a != c


def test_exam_day_matches_its_description() -> None:
    s = load_scenario("exam-day")
    assert (s.gates, s.checkins, s.burst_frames) == (20, 2400, 4)
    assert isinstance(s.arrival, BurstArrivals)
    counts = s.counts()
    impostors = counts["impostor_random"] + counts["impostor_lookalike"]
    assert impostors == 104
    kinds = {p.kind.value for p in s.probes}
    assert kinds == {"genuine", "impostor_random", "impostor_lookalike", "unenrolled", "replay",
                     "presentation_attack", "no_face"}
    from examgate.augment import burst_names
    for instrument in set(burst_names()) - {"bona_fide"}:  # an APCER per attack type
        assert counts[f"presentation_attack:{instrument}"] >= 50
    from examgate.augment import transform_names
    used = {t.name for p in s.probes for t in p.transforms}
    assert used >= set(transform_names()) - {"printed_photo", "empty_scene"}


def test_plan_ground_truth() -> None:
    s = Scenario.model_validate(small())
    students, others = people("student", 5, 3), people("visitor", 20, 1)
    plan = plan_checkins(s, students, others, nearest=nearest)
    by_id = {p.name: p for p in students}
    offsets = [p.send_offset_s for p in plan]
    assert offsets == sorted(offsets)
    assert {p.gate_id for p in plan} <= {"gate-01", "gate-02", "gate-03"}
    assert len({p.checkin_id for p in plan}) == len(plan)
    for p in plan:
        student = by_id.get(p.claimed_student_id, Person("not enrolled", ()))
        if p.probe_kind == "genuine":
            assert p.is_genuine and p.actual_person == p.claimed_student_id
            assert p.source_image in student.images[1:]
        else:
            assert not p.is_genuine
        if p.probe_kind == "replay":
            assert p.source_image == student.images[0] and p.steps == () and p.attack == "replay"
        if p.probe_kind == "printed_photo":
            assert p.source_image == student.images[0] and p.steps == ()  # the burst prints
            assert p.attack == p.instrument == "printed_photo_handheld"
        if p.probe_kind == "no_face":
            assert p.steps[0].name == "empty_scene" and p.actual_person is None
        if p.probe_kind in ("impostor_random", "impostor_lookalike"):
            assert p.actual_person != p.claimed_student_id and student.images
        if p.probe_kind == "impostor_lookalike":
            assert p.claimed_student_id == nearest(p.source_image, list(by_id))
        if p.probe_kind == "unenrolled":
            assert not student.images and not p.claimed_enrolled
            assert p.gender == p.actual_gender
        else:
            assert p.gender == by_id[p.claimed_student_id].gender
    record = plan[0].as_record()
    assert set(record) >= {"claimed_student_id", "source_image", "steps", "send_offset_s",
                           "is_genuine", "attack", "gender", "condition"}


def test_transforms_params_and_seeds_in_plan() -> None:
    s = Scenario.model_validate(small(probes=[
        {"kind": "genuine", "weight": 1,
         "transforms": ["mask", {"name": "dim", "params": {"brightness": 0.2}}]}]))
    plan = plan_checkins(s, people("student", 5, 2), [], nearest=nearest)
    assert {p.condition for p in plan} == {"genuine:mask+dim"}
    steps = plan[0].steps
    assert [st.name for st in steps] == ["mask", "dim"]
    assert steps[1].params["brightness"] == 0.2 and steps[1].params["gamma"] == 1.3
    assert steps[0].seed != steps[1].seed
    assert len({p.steps[0].seed for p in plan}) == len(plan)


@pytest.mark.parametrize("bad, match", [
    ({"probes": [{"kind": "replay", "weight": 1, "transforms": ["dim"]}]}, "replay"),
    ({"probes": [{"kind": "genuine", "weight": 1, "transforms": ["sepia"]}]}, "unknown transform"),
    ({"probes": [{"kind": "genuine", "weight": 1,
                  "transforms": [{"name": "dim", "params": {"brightnes": 0.2}}]}]}, "brightnes"),
    ({"probes": [{"kind": "genuine", "weight": 1}, {"kind": "genuine", "weight": 2}]}, "unique"),
    ({"probes": [{"kind": "genuine", "weight": 0}]}, "greater than 0"),
    ({"probes": [{"kind": "twin", "weight": 1}]}, "kind"),
    ({"arrival": {"process": "burst", "window_min": 5, "burst_min": 10}}, "burst_min"),
    ({"arrival": {"process": "steady"}}, "rate_per_s"),
    ({"gate": 3}, "Extra inputs"),
])
def test_invalid_scenarios_are_refused(bad: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Scenario.model_validate(small(**bad))


def test_load_scenario_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(small()))
    assert load_scenario(path).name == "t"


def test_plan_refuses_bad_inputs() -> None:
    s = Scenario.model_validate(small())
    students, others = people("student", 5, 3), people("visitor", 5, 1)
    with pytest.raises(ValueError, match="nearest"):
        plan_checkins(s, students, others)
    with pytest.raises(ValueError, match="wants 5 students"):
        plan_checkins(s, students[:4], others, nearest=nearest)
    with pytest.raises(IdentityLeakError, match="both students and"):
        plan_checkins(s, students, others + students[:1], nearest=nearest)
    with pytest.raises(ValueError, match="second photo"):
        plan_checkins(s, people("student", 5, 1), others, nearest=nearest)
    with pytest.raises(ValueError, match="not a cohort student"):
        plan_checkins(s, students, others, nearest=lambda path, ids: "Someone_Else")
    # Plain (name, paths) tuples are accepted too.
    plain = [(p.name, list(p.images)) for p in students]
    assert len(plan_checkins(s, plain, others, nearest=nearest)) == 40


def test_apportion_is_exact() -> None:
    assert apportion([90.5, 5, 1.5, 3], 2000) == [1810, 100, 30, 60]
    assert apportion([1, 1, 1], 10) == [4, 3, 3]
    assert apportion([1000, 1, 1], 10) == [8, 1, 1]  # every condition at least once
    assert sum(apportion([0.3, 0.2, 0.11], 7)) == 7


def test_arrival_processes() -> None:
    rng = np.random.default_rng(0)
    t, g = arrival_schedule(SteadyArrivals(rate_per_s=50), 5000, 4, rng)
    assert t[0] == 0 and np.all(np.diff(t) >= 0)
    assert 5000 / t[-1] == pytest.approx(50, rel=0.1)
    assert set(g) == {0, 1, 2, 3}
    burst = BurstArrivals(window_min=40, burst_min=10, burst_fraction=0.8, time_compression=20)
    t, _ = arrival_schedule(burst, 1000, 5, rng)
    assert t.max() <= 40 * 60 / 20
    assert np.mean(t >= 30 * 60 / 20) == pytest.approx(0.8, abs=0.02)
    t, g = arrival_schedule(ParallelGatesArrivals(service_s=2.0, jitter=0.0), 100, 10, rng)
    assert np.bincount(g).tolist() == [10] * 10 and t.max() == pytest.approx(18.0)


def fake_lfw(root: Path) -> Path:
    counts = {"Ann_A": 3, "Bob_B": 2, "Cid_C": 2, "Dee_D": 4, "Eve_E": 1, "Fay_F": 1, "Gus_G": 1}
    for name, n in counts.items():
        (root / "images" / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / "images" / name / f"{name}_{i:04d}.jpg").write_bytes(b"")
    (root / "labels").mkdir()
    (root / "labels" / "male_names.txt").write_text(
        "Bob_B_0001.jpg\nBob_B_0002.jpg\nCid_C_0001.jpg\nGus_G_0001.jpg\nDee_D_0001.jpg\n")
    (root / "labels" / "female_names.txt").write_text(
        "Ann_A_0001.jpg\nAnn_A_0002.jpg\nAnn_A_0003.jpg\nEve_E_0001.jpg\nCid_C_0001.jpg\n"
        "Dee_D_0002.jpg\n")
    (root / "pairsDevTrain.txt").write_text("1\nDee_D\t1\t2\nFay_F\t1\tBob_B\t2\n")
    return root


def test_select_cohort_excludes_training_identities(tmp_path: Path) -> None:
    lfw = fake_lfw(tmp_path)
    excluded = names_in_pairs(lfw / "pairsDevTrain.txt")
    assert excluded == {"Dee_D", "Fay_F", "Bob_B"}
    students, others = select_cohort(lfw, 2, excluded, np.random.default_rng(0))
    assert {s.name for s in students} == {"Ann_A", "Cid_C"}
    assert {o.name for o in others} == {"Eve_E", "Gus_G"}
    genders = {p.name: p.gender for p in students + others}
    assert genders == {"Ann_A": "female", "Cid_C": None, "Eve_E": "female", "Gus_G": "male"}
    ann = next(s for s in students if s.name == "Ann_A")
    assert sorted(ann.images) == sorted(str(p) for p in (lfw / "images/Ann_A").glob("*.jpg"))
    again = select_cohort(lfw, 2, excluded, np.random.default_rng(0))
    assert again == (students, others)
    with pytest.raises(ValueError, match="only 2 LFW people"):
        select_cohort(lfw, 3, excluded, np.random.default_rng(0))


def test_disjointness_check_raises() -> None:
    students, others = people("student", 3, 2), people("visitor", 3, 1)
    check_disjoint(students, others, {"someone_else"})
    with pytest.raises(IdentityLeakError, match="1 students are training/calibration"):
        check_disjoint(students, others, {"student_0001"})
    with pytest.raises(IdentityLeakError, match="impostors/visitors are training"):
        check_disjoint(students, others, {"visitor_0002"})


def test_gender_labels(tmp_path: Path) -> None:
    labels = load_gender_labels(fake_lfw(tmp_path))
    assert "Cid_C_0001.jpg" not in labels  # in both lists: unknown
    assert labels["Ann_A_0002.jpg"] == "female"
    assert person_gender(["x/Dee_D_0001.jpg", "x/Dee_D_0002.jpg"], labels) is None  # a tie
    assert person_gender(["x/Bob_B_0001.jpg"], labels) == "male"
