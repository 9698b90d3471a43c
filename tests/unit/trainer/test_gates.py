"""Each gate fails on a deliberately worse challenger and passes on a good one."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from trainer.gates import (
    FAIL,
    PASS,
    SKIP,
    TAR_KEY,
    GateSettings,
    cross_rates,
    gender_gaps,
    gender_rates,
    lookalike_pairs,
    model_measures,
    pair_rates,
    run_gates,
)


def _model(accuracy: float = 0.994, tar: float = 0.975, *, mask_tar: float = 0.80,
           dim_tar: float = 0.90, far: float = 2e-4, lookalike_far: float = 0.01,
           women: tuple[float, float] = (0.965, 4e-4),
           men: tuple[float, float] = (0.981, 1.1e-4)) -> dict[str, Any]:
    conditions = {
        "mask": {"tar": mask_tar, "far": far, "genuine": 9000, "impostor": 3_000_000},
        "dim": {"tar": dim_tar, "far": far, "genuine": 9000, "impostor": 3_000_000},
        "lookalike": {"tar": None, "far": lookalike_far, "genuine": 0, "impostor": 5400},
    }
    gender = {"female": {"tar": women[0], "far": women[1], "genuine": 800, "impostor": 200_000},
              "male": {"tar": men[0], "far": men[1], "genuine": 5000, "impostor": 900_000}}
    return model_measures({"accuracy": accuracy, TAR_KEY: tar, "model": "x.onnx"}, conditions,
                          gender, accept_threshold=0.41)


CHAMPION = _model()
GOOD = _model(accuracy=0.995, tar=0.978, mask_tar=0.86, dim_tar=0.93, lookalike_far=0.008)


def _status(report, gate: str) -> str:
    return next(r.status for r in report.results if r.gate == gate)


def test_a_better_challenger_passes_every_gate() -> None:
    report = run_gates(CHAMPION, GOOD, targets=["mask", "dim", "lookalike"])
    assert report.passed, report.explain()
    assert {r.status for r in report.results} == {PASS}
    assert report.explain().startswith("all gates passed")


def test_no_targets_skips_gate_b_with_a_reason() -> None:
    report = run_gates(CHAMPION, GOOD)
    assert _status(report, "targets") == SKIP and report.passed
    assert "no particular condition" in next(r.reason for r in report.results
                                             if r.gate == "targets")


@pytest.mark.parametrize("worse, gate, words", [
    (dict(accuracy=0.990), "accuracy", "accuracy fell"),
    (dict(tar=0.960), "accuracy", "tar_at_far_1e-04 fell"),
    (dict(mask_tar=0.79), "targets", "mask TAR did not improve"),
    (dict(lookalike_far=0.02), "targets", "lookalike FAR did not improve"),
    (dict(women=(0.940, 4e-4)), "gender_gap", "TAR gap widened"),
    (dict(women=(0.965, 9e-4)), "gender_gap", "FAR ratio widened"),
    (dict(far=3e-3), "failure_modes", "mask FAR 3.00e-03 is above the bound"),
    (dict(lookalike_far=0.2), "failure_modes", "lookalike FAR 2.00e-01 is above"),
])
def test_each_gate_fails_on_a_worse_challenger(worse: dict, gate: str, words: str) -> None:
    good = dict(accuracy=0.995, tar=0.978, mask_tar=0.86, dim_tar=0.93, lookalike_far=0.008)
    challenger = _model(**{**good, **worse})
    report = run_gates(CHAMPION, challenger, targets=["mask", "lookalike"])
    assert not report.passed
    assert _status(report, gate) == FAIL
    assert words in report.explain() and f"gate {gate} failed" in report.explain()


def test_small_losses_within_tolerance_pass() -> None:
    slightly = _model(accuracy=0.993, tar=0.974)
    assert _status(run_gates(CHAMPION, slightly), "accuracy") == PASS
    strict = GateSettings(accuracy_tolerance=0.0, tar_tolerance=0.0)
    assert _status(run_gates(CHAMPION, slightly, settings=strict), "accuracy") == FAIL


def test_missing_measurements_fail_closed() -> None:
    bare = copy.deepcopy(GOOD)
    bare["gender"] = {}
    del bare["conditions"]["dim"]
    report = run_gates(CHAMPION, bare, targets=["dim"])
    assert _status(report, "gender_gap") == FAIL and _status(report, "failure_modes") == FAIL
    assert "dim was not measured" in report.explain()
    unmeasured = {k: v for k, v in GOOD.items() if k != "accuracy"}
    assert _status(run_gates(CHAMPION, unmeasured), "accuracy") == FAIL


def test_reports_render_as_json_markdown_and_html() -> None:
    report = run_gates(CHAMPION, _model(far=5e-3), targets=["mask"])
    doc = json.loads(report.to_json())
    assert doc["passed"] is False and [g["gate"] for g in doc["gates"]] == [
        "accuracy", "targets", "gender_gap", "failure_modes"]
    md = report.to_markdown()
    assert "FAILED" in md and "| mask FAR | 2.00e-04 | 5.00e-03 |" in md
    page = report.to_html()
    assert page.startswith("<!doctype html>") and "class='fail'" in page


def test_gender_gap_floors_a_zero_far_at_one_impostor() -> None:
    gaps = gender_gaps({"female": {"tar": 0.9, "far": 0.0, "impostor": 1000},
                        "male": {"tar": 0.95, "far": 0.0, "impostor": 2000}})
    assert gaps == {"tar_gap": pytest.approx(0.05), "far_ratio": 1.0}


def test_measuring_helpers_on_toy_embeddings() -> None:
    # Two people, two images each; person b's second image sits near person a.
    emb = np.array([[1, 0], [0.98, 0.2], [0, 1], [0.9, 0.436]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    people = np.array(["a", "a", "b", "b"])
    rates = cross_rates(emb, emb, people, threshold=0.8)
    assert rates["genuine"] == 4 and rates["impostor"] == 8
    assert rates["far"] == pytest.approx(4 / 8)  # b_2 looks like both a images, both ways
    by_gender = gender_rates(emb, people, np.array(["female"] * 2 + ["male"] * 2), 0.8)
    assert by_gender["female"] == {"tar": 1.0, "far": None, "genuine": 1, "impostor": 0}
    pairs = lookalike_pairs(emb, people, k=1)
    assert pairs.tolist() == [[0, 3], [1, 3], [2, 1], [3, 1]]
    assert pair_rates(emb, pairs, 0.8)["far"] == pytest.approx(3 / 4)


def test_targets_come_from_the_conditions_named_in_feedback() -> None:
    from trainer.conditions import conditions_in

    manifest = {"counts": {"by_condition": {"genuine:mask+dim": {"SAME_PERSON": 2},
                                            "impostor_lookalike": {"DIFFERENT_PERSON": 1},
                                            "unknown": {"SAME_PERSON": 5}}}}
    assert conditions_in(manifest) == ["mask", "dim", "lookalike"]
    assert conditions_in({"counts": {"by_condition": {"unknown": {"UNSURE": 1}}}}) == []
    assert conditions_in(None) == []
