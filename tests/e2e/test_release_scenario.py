"""Staged delivery end to end (issue 15): a better and two worse challengers each go
through staging (bench e2e as staging's champion, judged by `models stage`) and an
automatic canary on live simulated traffic, on the real local stack.

The lax one must never become champion, the strict one must be rolled back, the better
one promoted, a version that skipped staging refused as canary, and no check-in lost or
decided twice across the switches.
Small sizes keep it to a few minutes; `examgate bench release` runs the larger one.
"""

from __future__ import annotations

import pytest

from examgate.core.settings import Settings
from simulator.release import ReleasePlan, release_went_right, run_release

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.mark.timeout(1500)
def test_better_challenger_promoted_worse_rolled_back_nothing_lost(stack: Settings) -> None:
    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    plan = ReleasePlan(students=40, rate=6.0, workers=1, fraction=0.25, interval_s=15.0,
                       max_canary_s=420.0, min_checkins=200, min_verdicts=15,
                       staging_rate=4.0, staging_s=20.0, staging_burst=0,
                       # The path is under test here, not this machine's speed: a 20 s
                       # staging run's p99 is its one or two slowest check-ins, and in CI,
                       # after the chaos suite, one took 577 ms. The bounds themselves are
                       # tested in tests/unit/models/test_release_steps.py.
                       staging_max_p99_ms=1000.0)
    report = run_release(stack, plan)
    v = report["versions"]
    canaries = {c["version"]: c for c in report["canaries"]}
    for c in report["canaries"]:
        print(f"release: v{c['version']} {c['action']} after {c['analyses']} analyses "
              f"({c['canary_s']} s): {c['reasons']}")
    print(f"release: staging {report['staging']}; {report['check_ins']} check-ins, "
          f"{report['lost']} lost, {report['duplicated']} duplicated, "
          f"decided by {report['decided_by']}, impostors accepted "
          f"{report['impostors_accepted_by']}")
    assert all(s["passed"] for s in report["staging"].values()), report["staging"]
    assert report["unstaged_refused"] is True
    # The worse challenger's lax threshold lets impostors reach ACCEPT only where the
    # cohort check does not catch them (it holds every ACCEPT against all enrolled
    # students): rolled back when a proctor confirms one, retired when its canary shows
    # no difference in time (both seen on this machine). It never becomes champion.
    assert canaries[v["worse"]]["action"] in ("rollback", "retired")
    # The stricter challenger sends many more genuine students to a proctor, which no
    # check hides: the canary rolls it back on the paired REVIEW counts.
    assert canaries[v["stricter"]]["action"] == "rollback", canaries[v["stricter"]]
    assert any("more REVIEWs" in r for r in canaries[v["stricter"]]["reasons"])
    assert canaries[v["better"]]["action"] == "promote"
    assert report["champion_after"] == v["better"]
    assert (report["lost"], report["duplicated"]) == (0, 0)
    # No student was decided by a version without its own template (issue 15).
    assert set(report["not_enrolled_students"]) <= set(report["enroll_failed"])
    # Every version decided some check-ins: the switches happened under load.
    assert set(report["decided_by"]) >= {"champion", "better"}
    assert release_went_right(report)
