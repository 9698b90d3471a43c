"""How `bench chaos` scores a phase: lost, duplicated, wrong ACCEPTs and recovery, from
made-up outcomes in both directions (the rules, not a live stack)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from simulator.chaos_faults import Chaos, measure
from simulator.driver import Outcome, Probe

END = 1_000.0  # the fault ended here (epoch seconds)


def _outcome(sent: float, received: float | None, kind: str = "genuine",
             outcome: str = "ACCEPT", reason: str = "MATCH") -> Outcome:
    probe = Probe("chaos-1", "s1", b"", 0.0, {"kind": kind})
    decision = None if received is None else {
        "outcome": outcome, "reason": reason,
        "published_at": datetime.fromtimestamp(sent, UTC)}
    return Outcome(probe, f"e{sent}", sent, decision, received)


def _chaos(duplicates: int = 0, restarts: int = 0) -> Chaos:
    return Chaos(SimpleNamespace(), SimpleNamespace(restarts=restarts),  # type: ignore[arg-type]
                 SimpleNamespace(duplicates=duplicates), [], 10.0, 30.0, 10.0)


def test_a_clean_phase_recovers_when_backlog_and_new_check_ins_are_decided() -> None:
    outcomes = [_outcome(990, 1_004), _outcome(995, 1_006), _outcome(1_001, 1_003),
                _outcome(1_002, 1_008, "impostor", "REJECT", "NO_MATCH")]
    r = measure(_chaos(), "redis_kill", outcomes, END, 10.0, 0, 0)
    assert (r.checkins, r.lost, r.duplicated, r.wrong_accept) == (4, 0, 0, 0)
    assert r.recovery_s == 6.0  # the backlog's last decision, later than the first new one


def test_fail_closed_decisions_after_the_end_do_not_count_as_recovered() -> None:
    outcomes = [_outcome(990, 991, outcome="REVIEW", reason="TEMPLATE_UNAVAILABLE"),
                _outcome(1_001, 1_002, outcome="REVIEW", reason="TEMPLATE_UNAVAILABLE"),
                _outcome(1_003, 1_012)]
    r = measure(_chaos(), "redis_kill", outcomes, END, 10.0, 0, 0)
    assert r.recovery_s == 12.0
    assert r.fail_closed == {"TEMPLATE_UNAVAILABLE": 2}
    assert r.reviews_without_frame == 2  # made-up decisions keep no frame
    still_down = measure(_chaos(), "redis_kill", outcomes[:2], END, 10.0, 0, 0)
    assert still_down.recovery_s is None


@pytest.mark.parametrize(("outcomes", "field", "value"), [
    ([_outcome(990, None), _outcome(1_001, 1_002)], "lost", 1),
    ([_outcome(990, 991, "impostor")], "wrong_accept", 1),
])
def test_losses_and_wrong_accepts_are_counted(outcomes, field: str, value: int) -> None:
    r = measure(_chaos(), "worker_sigkill", outcomes, END, 0.0, 0, 0)
    assert getattr(r, field) == value
    if field == "lost":
        assert r.recovery_s is None


def test_duplicates_and_restarts_are_this_phase_s_own() -> None:
    r = measure(_chaos(duplicates=5, restarts=3), "poison", [_outcome(990, 991)], END, 1.0,
                dup0=4, restarts0=1)
    assert (r.duplicated, r.restarts) == (1, 2)
