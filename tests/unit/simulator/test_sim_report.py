"""The evaluation report on a hand-made set of decisions, checked against hand-computed values.

Wilson 95% intervals below were worked out from the closed form
(p + z^2/2n +/- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964, and
agree with published tables (e.g. 2/10 -> 0.0567-0.5098, 0/10 -> 0-0.2775).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from examgate.augment import Step
from simulator.report import (
    ResultRow,
    compute_report,
    print_summary,
    row_from,
    wilson_closed_form,
    wilson_interval,
    write_report,
)
from simulator.scenario import PlannedCheckIn


def make_rows() -> list[dict]:
    rows: list[dict] = []

    def add(condition: str, kind: str, genuine: bool, outcome: str | None, reason: str | None,
            gender: str, **extra: object) -> None:
        i = len(rows)
        rows.append({"checkin_id": f"c{i}", "condition": condition, "probe_kind": kind,
                     "is_genuine": genuine, "outcome": outcome, "reason": reason,
                     "gender": gender, "sent_at": 1000.0 + i,
                     "decided_at": None if outcome is None else 1000.5 + i, **extra})

    genuine = [("female", "ACCEPT")] * 5 + [("female", "REJECT"), ("male", "ACCEPT"),
                                              ("male", "ACCEPT"), ("male", "REJECT"),
                                              ("male", "REVIEW")]
    reasons = {"ACCEPT": "MATCH", "REJECT": "NO_MATCH", "REVIEW": "UNCERTAIN_MATCH"}
    for j, (gender, outcome) in enumerate(genuine):
        add("genuine", "genuine", True, outcome, reasons[outcome], gender,
            latency_ms=10.0 * (j + 1), similarity=0.7 if outcome == "ACCEPT" else 0.2)
    add("genuine", "genuine", True, None, None, "female")  # lost: never decided
    for j in range(20):
        outcome = "ACCEPT" if j == 0 else "REJECT"
        add("impostor_random", "impostor_random", False, outcome, reasons[outcome],
            "female" if j < 10 else "male", similarity=0.5 if j == 0 else 0.1)
    for j in range(4):
        outcome = "ACCEPT" if j == 0 else "REJECT"
        add("replay", "replay", False, outcome, "MATCH" if j == 0 else "REPLAY_SUSPECTED",
            "male", attack="replay", shadow_outcome="REJECT", shadow_reason="REPLAY_SUSPECTED",
            shadow_model="7", model_version="6")
    return rows


LAG = [(0.0, 0.0), (1.0, 5.0), (2.0, 12.0), (3.0, 3.0)]


def ci(r: dict) -> list[float]:
    return [round(v, 4) for v in r["ci95"]]


@pytest.fixture(scope="module")
def report() -> dict:
    return compute_report(make_rows(), LAG)


def test_overall_rates_and_intervals(report: dict) -> None:
    s = report["summary"]
    assert (s["checkins"], s["decided"], s["missing"]) == (35, 34, 1)
    assert s["frr"]["k"] == 2 and s["frr"]["n"] == 10 and s["frr"]["rate"] == 0.2
    assert ci(s["frr"]) == [0.0567, 0.5098]
    assert (s["far"]["k"], s["far"]["n"]) == (2, 24)  # the accepted replay is a false accept
    assert s["far"]["rate"] == pytest.approx(2 / 24)
    assert ci(s["far"]) == [0.0232, 0.2585]
    assert s["review_rate"]["rate"] == 0.1 and ci(s["review_rate"]) == [0.0179, 0.4042]
    assert s["not_accepted"]["rate"] == 0.3 and ci(s["not_accepted"]) == [0.1078, 0.6032]


def test_per_condition_and_gender(report: dict) -> None:
    by = report["by_condition"]
    assert ci(by["impostor_random"]["all"]["non_genuine"]["far"]) == [0.0089, 0.2361]
    assert by["replay"]["all"]["non_genuine"]["far"]["rate"] == 0.25
    assert ci(by["replay"]["all"]["non_genuine"]["far"]) == [0.0456, 0.6994]
    gen = by["genuine"]["by_gender"]
    assert gen["female"]["genuine"]["frr"]["rate"] == pytest.approx(1 / 6)
    assert ci(gen["female"]["genuine"]["frr"]) == [0.0301, 0.5635]
    assert gen["female"]["missing"] == 1
    assert gen["male"]["genuine"]["review_rate"]["rate"] == 0.25
    imp = by["impostor_random"]["by_gender"]
    assert ci(imp["female"]["non_genuine"]["far"]) == [0.0179, 0.4042]
    assert ci(imp["male"]["non_genuine"]["far"]) == [0.0, 0.2775]
    assert by["genuine"]["all"]["genuine"]["frr"]["ci95"] is not None
    assert by["genuine"]["all"]["non_genuine"]["far"] == {"k": 0, "n": 0, "rate": None,
                                                         "ci95": None}
    assert set(report["by_gender"]) == {"female", "male"}
    assert report["by_probe_kind"]["replay"]["all"]["non_genuine"]["accept"] == 1


def test_reasons_latency_throughput_lag(report: dict) -> None:
    g = report["by_condition"]["genuine"]["all"]
    assert g["reasons"] == {"MATCH": 7, "NO_MATCH": 2, "UNCERTAIN_MATCH": 1}
    assert report["by_condition"]["replay"]["all"]["reasons"] == {"MATCH": 1,
                                                                  "REPLAY_SUSPECTED": 3}
    lat = g["latency_ms"]
    assert (lat["p50"], lat["p95"], lat["p99"]) == pytest.approx((55.0, 95.5, 99.1))
    thr = report["summary"]["throughput"]
    assert thr["decided"] == 34 and thr["span_s"] == pytest.approx(34.5)
    assert thr["per_s"] == pytest.approx(34 / 34.5) and thr["peak_per_s"] == 1
    lag = report["summary"]["lag"]
    assert (lag["peak"], lag["peak_at"], lag["final"], lag["mean"]) == (12.0, 2.0, 3.0, 5.0)


def test_shadow_comparison(report: dict) -> None:
    sh = report["shadow"]
    assert sh["n"] == 4 and sh["challenger_models"] == ["7"] and sh["champion_models"] == ["6"]
    assert sh["agreement"]["rate"] == 0.75
    assert sh["transitions"] == {"ACCEPT->REJECT": 1, "REJECT->REJECT": 3}
    assert sh["champion"]["non_genuine"]["far"]["rate"] == 0.25
    assert sh["challenger"]["non_genuine"]["far"]["rate"] == 0.0
    assert compute_report([r for r in make_rows() if r["probe_kind"] != "replay"])["shadow"] is None


def test_wilson_backends_agree() -> None:
    for k, n in [(0, 10), (2, 24), (7, 7), (13, 1000)]:
        closed = wilson_closed_form(k, n)
        assert wilson_interval(k, n) == pytest.approx(closed, abs=1e-9)
        assert wilson_interval(k, n, backend="closed-form") == closed
    pytest.importorskip("scipy")
    assert wilson_interval(3, 24, backend="scipy") == pytest.approx((0.04340, 0.31003), abs=1e-4)


def test_row_from_joins_plan_and_decision() -> None:
    planned = PlannedCheckIn(
        index=0, checkin_id="x-1", exam_id="e", gate_id="gate-01", send_offset_s=0.0,
        claimed_student_id="Ann_A", claimed_enrolled=True, source_image="/a.jpg",
        steps=(Step("dim", {}, 1),), seed=1, probe_kind="genuine", condition="genuine:dim",
        is_genuine=True, attack=None, actual_person="Ann_A", claimed_gender="female",
        actual_gender="female")
    decision = {"outcome": "REVIEW", "reason": "LOW_QUALITY", "similarity": None,
                "model_version": "3", "decided_at": 10.2,
                "shadow": {"model_version": "4", "similarity": 0.5, "outcome": "ACCEPT",
                           "reason": "MATCH"}}
    row = row_from(planned, decision, sent_at=10.0, received_at=10.25)
    assert row.latency_ms == pytest.approx(250.0) and row.gender == "female"
    assert (row.shadow_outcome, row.shadow_model) == ("ACCEPT", "4")
    assert row_from(planned, None, sent_at=10.0).outcome is None
    assert isinstance(row, ResultRow)


def test_write_report_and_summary(tmp_path: Path, report: dict) -> None:
    pytest.importorskip("matplotlib")
    paths = write_report(report, make_rows(), LAG, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["summary"]["missing"] == 1
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 3  # DET, latency and lag
    assert "impostor_random" in page and "REPLAY_SUSPECTED" in page
    assert len(paths["csv"].read_text().splitlines()) == 36
    console = Console(record=True, width=140)
    print_summary(report, console)
    text = console.export_text()
    assert "impostor_random" in text and "FAR 8.3% [2.3%–25.8%] (2/24)" in text
    assert "20.0 [5.7-51.0]" in text  # genuine FRR in the condition table
