"""Chaos: every fault of `examgate bench chaos`, under load on the real local stack.

A worker SIGKILLed; the broker, Redis, MinIO and MLflow each killed (SIGKILL) and started
again from the data they left; the poison corpus sent in the middle of normal traffic.
For each: no check-in lost, none decided twice, no impostor accepted, and the system
deciding normally again afterwards; no poison entry stops a worker or goes unanswered.
Small sizes (5 check-ins/s, 2 workers) keep it to a few minutes; `examgate bench chaos`
runs the full table at 10/s.
"""

from __future__ import annotations

import pytest

from examgate.core.settings import Settings
from simulator.chaos import run_chaos
from simulator.chaos_faults import FAULTS

pytestmark = pytest.mark.chaos


def test_every_fault_loses_duplicates_and_wrongly_accepts_nothing(stack: Settings) -> None:
    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    results = run_chaos(stack, FAULTS, rate=5.0, phase_s=40.0, down_s=6.0, workers=2,
                        students=16)
    table = {r.fault: r for r in results}
    for r in results:
        print(f"chaos {r.fault}: {r.checkins} check-ins, {r.lost} lost, {r.duplicated} "
              f"duplicated, {r.wrong_accept} wrong ACCEPT, recovery {r.recovery_s} s, "
              f"restarts {r.restarts}, fail-closed {r.fail_closed}")
    assert list(table) == list(FAULTS)
    for r in results:
        assert (r.lost, r.duplicated, r.wrong_accept) == (0, 0, 0), r
        assert r.recovery_s is not None, f"{r.fault}: not deciding normally afterwards"
    assert table["redis_kill"].fail_closed.get("TEMPLATE_UNAVAILABLE", 0) > 0, \
        "Redis was down and nothing said so: the fault was not injected"
    assert table["worker_sigkill"].restarts == 1
    poison = table["poison"]
    assert poison.restarts == 0, "a poison record stopped a worker"
    assert all(p["answered"] and not p["wrong_accept"] for p in poison.poison), poison.poison
    replayed = next(p for p in poison.poison if "twice" in p["entry"])
    assert "DUPLICATE_EVENT" in replayed["became"]
