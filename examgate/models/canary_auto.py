"""``examgate models canary VERSION --auto``: the canary judged every interval until the
evidence decides, then promoted or retired without anyone at the console.

Every ``interval`` the decisions of the canary period (decided since it began) and the
proctors' verdicts are judged by :func:`examgate.models.canary_analysis.judge_canary`,
the same rules as ``examgate models analyse``. Promote: the challenger becomes the
champion (its templates exist already). Roll back: the challenger is retired, the
champion decides everywhere again. So a rollback comes at most one interval after the
evidence turns against the canary. A canary that shows no difference within
``max_s`` is retired too: only a model shown to do better is promoted. The final
analysis goes to MLflow (run ``canary-analysis-vN``) and an AuditEvent; the ones before
it only to the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from examgate.core.settings import Settings
from examgate.models.canary_analysis import (
    PROMOTE,
    ROLLBACK,
    CanaryRules,
    CanaryVerdict,
    Evidence,
)

log = logging.getLogger("examgate.canary")
RETIRED = "retired"  # no difference shown in time: the champion stays


def rules_from(settings: Settings) -> CanaryRules:
    """The canary rules configured under ``release``."""
    r = settings.release
    return CanaryRules(min_checkins=r.canary_min_checkins, min_verdicts=r.canary_min_verdicts,
                       max_latency_ratio=r.canary_max_latency_ratio,
                       review_margin=r.canary_review_margin)


@dataclass(frozen=True)
class AutoCanaryResult:
    """How a canary ended."""

    version: str
    action: str  # PROMOTE, ROLLBACK or RETIRED
    analyses: int
    elapsed_s: float
    reasons: tuple[str, ...]
    evidence: Evidence | None = None


def _default_analyse(settings: Settings, version: str, rules: CanaryRules,
                     since: datetime) -> tuple[Evidence, CanaryVerdict]:
    from examgate.models.promotion import analyse

    return analyse(settings, version, rules, since=since, record=False)


def _default_record(settings: Settings, evidence: Evidence, verdict: CanaryVerdict,
                    rules: CanaryRules) -> None:
    from examgate.adapters import factory as ports
    from examgate.models.promotion import record_analysis

    record_analysis(settings, ports.model_registry(settings), evidence, verdict, rules)


def _default_promote(settings: Settings, version: str) -> str:
    from examgate.models.promotion import promote

    return promote(settings, version)


def _default_retire(settings: Settings, version: str, why: str) -> str:
    from examgate.models.promotion import retire

    return retire(settings, version, why)


@dataclass
class CanaryActions:
    """What the loop does to the world; tests swap in their own."""

    analyse: Callable[[Settings, str, CanaryRules, datetime],
                      tuple[Evidence, CanaryVerdict]] = _default_analyse
    record: Callable[[Settings, Evidence, CanaryVerdict, CanaryRules], None] = _default_record
    promote: Callable[[Settings, str], str] = _default_promote
    retire: Callable[[Settings, str, str], str] = _default_retire
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_analysis: list[tuple[float, CanaryVerdict]] = field(default_factory=list)


def run_auto_canary(settings: Settings, version: str, *, rules: CanaryRules,
                    interval_s: float, max_s: float, since: datetime | None = None,
                    actions: CanaryActions | None = None) -> AutoCanaryResult:
    """Judge the running canary of ``version`` every ``interval_s`` until it is promoted,
    rolled back, or ``max_s`` passed without a difference (retired)."""
    if interval_s <= 0 or max_s <= 0:
        raise ValueError("the analysis interval and the longest canary must be positive")
    act = actions or CanaryActions()
    since = since or datetime.now(UTC)
    began = act.clock()
    analyses = 0
    while True:
        left = max_s - (act.clock() - began)
        act.sleep(max(0.0, min(interval_s, left)))
        analyses += 1
        evidence, verdict = act.analyse(settings, version, rules, since)
        elapsed = act.clock() - began
        act.on_analysis.append((elapsed, verdict))
        log.info("canary of version %s, analysis %d after %.0f s: %s (%s)", version, analyses,
                 elapsed, verdict.action, "; ".join(verdict.reasons))
        if verdict.action == PROMOTE:
            act.record(settings, evidence, verdict, rules)
            act.promote(settings, version)
            return AutoCanaryResult(version, PROMOTE, analyses, elapsed, verdict.reasons,
                                    evidence)
        if verdict.action == ROLLBACK:
            act.record(settings, evidence, verdict, rules)
            act.retire(settings, version, "; ".join(verdict.reasons))
            return AutoCanaryResult(version, ROLLBACK, analyses, elapsed, verdict.reasons,
                                    evidence)
        if elapsed >= max_s:
            act.record(settings, evidence, verdict, rules)
            why = (f"no difference shown in {max_s:.0f} s: {'; '.join(verdict.reasons)}",)
            act.retire(settings, version, why[0])
            return AutoCanaryResult(version, RETIRED, analyses, elapsed, why, evidence)
