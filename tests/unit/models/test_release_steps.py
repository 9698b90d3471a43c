"""Staging bounds and the automatic canary loop, on made-up results (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from examgate.core.release_settings import ReleaseSettings
from examgate.core.settings import Settings
from examgate.models.canary_analysis import (
    PROMOTE,
    ROLLBACK,
    WAIT,
    CanaryRules,
    CanaryVerdict,
    Evidence,
    VersionEvidence,
)
from examgate.models.canary_auto import (
    ENDED,
    RETIRED,
    CanaryActions,
    rules_from,
    run_auto_canary,
)
from examgate.models.staging import judge_staging, staging_required

FP = "a" * 64
BOUNDS = ReleaseSettings()


def _e2e(**over: object) -> dict:
    base = {"rate": 10.0, "check_ins": 600, "decided": 600, "duplicates": 0,
            "workers_lost": 0, "latency_ms_p99": 130.0, "throughput_per_s": 9.99,
            "model_fingerprint": FP}
    return {**base, **over}


def _api(**over: object) -> dict:
    base = {"check_ins": 600, "decided": 600, "errors": 0, "duplicated": 0,
            "latency_ms_p99": 180.0, "model_fingerprint": FP}
    return {**base, **over}


def test_staging_within_bounds_passes() -> None:
    verdict = judge_staging(_e2e(), _api(), FP, BOUNDS)
    assert verdict.passed, verdict
    assert verdict.measures == {"e2e_latency_ms_p99": 130.0, "e2e_throughput_per_s": 9.99,
                                "api_latency_ms_p99": 180.0}


@pytest.mark.parametrize(("e2e", "api", "says"), [
    (_e2e(latency_ms_p99=151.0), None, "p99 151 ms over the bound 150"),
    (_e2e(throughput_per_s=9.0), None, "9.0 decisions/s for 10 offered"),
    (_e2e(decided=598), None, "2 of 600 check-ins got no decision"),
    (_e2e(duplicates=1), None, "duplicates 1"),
    (_e2e(workers_lost=1), None, "workers_lost 1"),
    (_e2e(latency_ms_p99=None), None, "measured no latency"),
    (_e2e(check_ins=0, decided=0), None, "sent no check-ins"),
    (_e2e(model_fingerprint="b" * 64), None, "bench e2e ran another model"),
    (_e2e(), _api(latency_ms_p99=300.0), "bench api: p99 300 ms over the bound 250"),
    (_e2e(), _api(errors=3), "bench api: errors 3"),
    (_e2e(), _api(model_fingerprint=None), "bench api ran another model"),
])
def test_staging_outside_bounds_fails_and_says_why(e2e: dict, api: dict | None,
                                                   says: str) -> None:
    verdict = judge_staging(e2e, api, FP, BOUNDS)
    assert not verdict.passed
    assert any(says in r for r in verdict.reasons), verdict.reasons


def test_staging_bounds_are_settings() -> None:
    loose = ReleaseSettings(staging_max_p99_ms=200.0, staging_min_throughput=0.5)
    assert judge_staging(_e2e(latency_ms_p99=190.0, throughput_per_s=6.0), None, FP,
                         loose).passed


def test_production_always_requires_staging() -> None:
    assert not staging_required(Settings())
    assert staging_required(Settings(release=ReleaseSettings(require_staging=True)))
    assert staging_required(Settings.model_construct(environment="production",
                                                     release=ReleaseSettings()))


class _World:
    """A canary whose analyses come from a script of verdicts, on a fake clock."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.now = 0.0
        self.done: list[tuple[str, str]] = []
        self.recorded: list[str] = []
        self.current: str | None = "2"
        self.actions = CanaryActions(analyse=self.analyse, record=self.record,
                                     promote=self.promote, retire=self.retire,
                                     sleep=self.sleep, clock=lambda: self.now,
                                     challenger=lambda _s: self.current)

    def analyse(self, _s: Settings, version: str, _r: CanaryRules,
                since: datetime) -> tuple[Evidence, CanaryVerdict]:
        assert since.tzinfo is not None
        action = self.script.pop(0) if self.script else WAIT
        if action == "fail":
            raise TimeoutError("the topics were not read to their end in 600 s")
        return (Evidence(VersionEvidence("1"), VersionEvidence(version)),
                CanaryVerdict(action, (f"scripted {action}",)))

    def record(self, _s: Settings, _e: Evidence, verdict: CanaryVerdict,
               _r: CanaryRules) -> None:
        self.recorded.append(verdict.action)

    def promote(self, _s: Settings, version: str) -> str:
        self.done.append(("promote", version))
        return version

    def retire(self, _s: Settings, version: str, why: str) -> str:
        self.done.append(("retire", version))
        return version

    def sleep(self, seconds: float) -> None:
        self.now += seconds


RULES = CanaryRules(min_checkins=10, min_verdicts=1)


def test_better_canary_is_promoted_at_the_first_analysis_that_shows_it() -> None:
    w = _World([WAIT, WAIT, PROMOTE])
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=60, max_s=3600,
                             actions=w.actions)
    assert (result.action, result.analyses, result.elapsed_s) == (PROMOTE, 3, 180)
    assert w.done == [("promote", "2")] and w.recorded == [PROMOTE]


def test_rollback_comes_within_one_interval_of_the_evidence_turning() -> None:
    # The evidence turns against the canary at the fifth analysis: retired then, not later.
    w = _World([WAIT, WAIT, WAIT, WAIT, ROLLBACK, PROMOTE])
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=600, max_s=86_400,
                             since=datetime(2026, 12, 1, tzinfo=UTC), actions=w.actions)
    assert (result.action, result.analyses, result.elapsed_s) == (ROLLBACK, 5, 3000)
    assert w.done == [("retire", "2")] and w.recorded == [ROLLBACK]
    assert [v.action for _, v in w.actions.on_analysis] == [WAIT] * 4 + [ROLLBACK]


def test_a_canary_that_shows_nothing_is_retired_at_its_deadline() -> None:
    w = _World([])
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=600, max_s=1500,
                             actions=w.actions)
    # Analyses at 600, 1200 and (the deadline) 1500 s.
    assert (result.action, result.analyses, result.elapsed_s) == (RETIRED, 3, 1500)
    assert w.done == [("retire", "2")] and w.recorded == [WAIT]
    assert "no difference shown in 1500 s" in result.reasons[0]


def test_the_loop_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        run_auto_canary(Settings(), "2", rules=RULES, interval_s=0, max_s=10,
                        actions=_World([]).actions)


def test_rules_come_from_the_release_settings() -> None:
    s = Settings(release=ReleaseSettings(canary_min_checkins=42, canary_min_verdicts=7,
                                         canary_max_latency_ratio=2.0,
                                         canary_review_margin=0.02))
    assert rules_from(s) == CanaryRules(min_checkins=42, min_verdicts=7, max_latency_ratio=2.0,
                                        review_margin=0.02)


def test_a_canary_nobody_can_judge_is_retired() -> None:
    # Kafka or MLflow down: tried again at the next interval, retired after three in a row.
    w = _World(["fail", WAIT, "fail", "fail", "fail", PROMOTE])
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=60, max_s=3600,
                             actions=w.actions)
    assert (result.action, result.analyses, result.elapsed_s) == (RETIRED, 1, 300)
    assert "could not be judged 3 times in a row" in result.reasons[0]
    assert w.done == [("retire", "2")]


def test_the_action_comes_before_its_record() -> None:
    # MLflow down at the moment of the verdict: the worse canary is still retired.
    w = _World([ROLLBACK])

    def broken(*_a: object) -> None:
        raise ConnectionError("mlflow is down")

    w.actions.record = broken
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=60, max_s=3600,
                             actions=w.actions)
    assert result.action == ROLLBACK and w.done == [("retire", "2")]


def test_a_challenger_moved_by_hand_ends_the_loop_without_acting() -> None:
    w = _World([WAIT, WAIT, PROMOTE])
    w.current = None  # someone ran `examgate models retire` (or promoted it) meanwhile
    result = run_auto_canary(Settings(), "2", rules=RULES, interval_s=60, max_s=3600,
                             actions=w.actions)
    assert result.action == ENDED and w.done == [] and w.recorded == []
