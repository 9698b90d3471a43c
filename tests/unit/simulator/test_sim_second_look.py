"""The simulator's second look: who is sent again, how, and the per-transaction report."""

from __future__ import annotations

import pytest
from rich.console import Console

from simulator.driver import Outcome, Probe
from simulator.report import compute_report, print_summary
from simulator.report.render import render_html
from simulator.scenario import PlannedCheckIn
from simulator.second_look import SEED_OFFSET, second_look_plan


def _planned(i: int, instrument: str | None, genuine: bool = True,
             params: dict | None = None) -> PlannedCheckIn:
    return PlannedCheckIn(
        index=i, checkin_id=f"c{i}", exam_id="e", gate_id="gate-01", send_offset_s=float(i),
        claimed_student_id="Ann_A", claimed_enrolled=True, source_image="/a.jpg", steps=(),
        seed=100 + i, probe_kind="genuine" if genuine else "presentation_attack",
        condition="genuine" if genuine else f"presentation_attack:{instrument}",
        is_genuine=genuine, attack=None if genuine else instrument, actual_person="Ann_A",
        claimed_gender="female", actual_gender="female", instrument=instrument,
        burst_frames=4, instrument_params=params or {})


def _uncertain(why: str, fired: tuple[str, ...] = ()) -> dict:
    return {"outcome": "REVIEW", "reason": "LIVENESS_UNCERTAIN",
            "liveness": {"verdict": "UNCERTAIN", "why": why, "fired": list(fired)}}


def _outcome(i: int, decision: dict | None) -> Outcome:
    return Outcome(Probe("gate-01", "Ann_A", b"", float(i), {"index": i}), f"e{i}", 0.0,
                   decision)


def test_only_a_face_that_lacked_a_heads_motion_is_sent_again_as_prompted() -> None:
    plan = [_planned(0, "bona_fide", params={"still": 0.5}), _planned(1, "bona_fide"),
            _planned(2, "bona_fide"), _planned(3, "cutout_print", genuine=False),
            _planned(4, "bona_fide"), _planned(5, "printed_photo_still", genuine=False)]
    outcomes = [_outcome(0, _uncertain("too little motion")),
                _outcome(1, _uncertain("fired: edges", ("edges",))),  # moving would not help
                _outcome(2, {"outcome": "ACCEPT", "reason": "MATCH"}),
                _outcome(3, _uncertain("too little relief")),
                _outcome(4, None),  # never decided: nothing to prompt
                _outcome(5, {"outcome": "REJECT", "reason": "PRESENTATION_ATTACK",
                             "liveness": {"verdict": "ATTACK", "why": "fired: screen",
                                          "fired": ["screen"]}})]
    again = second_look_plan(plan, list(reversed(outcomes)), spacing_s=0.5)
    assert [(p.checkin_id, of) for p, of in again] == [("c0-look2", "c0"), ("c3-look2", "c3")]
    live, cutout = again[0][0], again[1][0]
    assert (live.index, live.send_offset_s, cutout.index, cutout.send_offset_s) == (0, 0, 1, 0.5)
    # The student turns as asked (the first look's stillness does not carry over); the
    # attacker moves the print twice as much; each is a fresh draw of the same photo.
    assert live.instrument_params == {"still": 0.02, "yaw_deg": 6.0, "pitch_deg": 3.0}
    assert cutout.instrument_params == {"motion": pytest.approx(1.4)}
    assert live.seed == plan[0].seed + SEED_OFFSET and live.steps == plan[0].steps
    assert (live.is_genuine, cutout.is_genuine, cutout.attack) == (True, False, "cutout_print")


def _rows() -> list[dict]:
    def row(cid: str, genuine: bool, outcome: str, reason: str, verdict: str,
            of: str | None = None, attack: str | None = None) -> dict:
        return {"checkin_id": cid, "condition": "genuine" if genuine else "presentation_attack",
                "probe_kind": "genuine" if genuine else "presentation_attack",
                "is_genuine": genuine, "outcome": outcome, "reason": reason,
                "liveness_verdict": verdict, "attack": attack, "gender": "female",
                "second_look_of": of, "sent_at": 1.0, "decided_at": 1.1, "latency_ms": 100.0}

    return [row("g1", True, "ACCEPT", "MATCH", "LIVE"),
            row("g2", True, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN"),
            row("g3", True, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN"),
            row("g4", True, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN"),
            row("a1", False, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN", attack="cutout_print"),
            row("g2-look2", True, "ACCEPT", "MATCH", "LIVE", of="g2"),
            row("g3-look2", True, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN", of="g3"),
            row("a1-look2", False, "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN", of="a1",
                attack="cutout_print")]


def test_tables_count_first_attempts_and_transactions_are_judged_by_the_last() -> None:
    report = compute_report(_rows())
    assert report["summary"]["checkins"] == 5
    assert report["pad"]["bpcer"]["k"] == 3 and report["pad"]["bpcer"]["n"] == 4
    per = report["per_transaction"]
    assert per["second_looks"] == 3
    assert per["taken_by_condition"] == {"genuine": 2, "presentation_attack": 1}
    assert (per["pad"]["bpcer"]["k"], per["pad"]["bpcer"]["n"]) == (2, 4)  # g3 and g4
    assert per["pad"]["apcer"]["cutout_print"]["k"] == 0
    assert (per["not_accepted"]["k"], per["far"]["k"]) == (2, 0)
    console = Console(record=True, width=200)
    print_summary(report, console)
    assert "with 3 second look(s), per transaction" in console.export_text()
    assert "Second looks: per transaction" in render_html(report, {})


def test_a_run_without_second_looks_says_so() -> None:
    report = compute_report([r for r in _rows() if not r["second_look_of"]])
    assert report["per_transaction"] is None
    assert "No second looks in this run" in render_html(report, {})
