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
RETIRED = "retired"  # no difference shown in time (or none could be): the champion stays
ENDED = "ended"  # the challenger alias was moved by someone else: nothing done


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
    action: str  # PROMOTE, ROLLBACK, RETIRED or ENDED
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


def _default_challenger(settings: Settings) -> str | None:
    from examgate.adapters import factory as ports

    return ports.model_registry(settings).aliases().get("challenger")


@dataclass
class CanaryActions:
    """What the loop does to the world; tests swap in their own."""

    analyse: Callable[[Settings, str, CanaryRules, datetime],
                      tuple[Evidence, CanaryVerdict]] = _default_analyse
    record: Callable[[Settings, Evidence, CanaryVerdict, CanaryRules], None] = _default_record
    promote: Callable[[Settings, str], str] = _default_promote
    retire: Callable[[Settings, str, str], str] = _default_retire
    challenger: Callable[[Settings], str | None] = _default_challenger
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_analysis: list[tuple[float, CanaryVerdict]] = field(default_factory=list)


def run_auto_canary(settings: Settings, version: str, *, rules: CanaryRules,
                    interval_s: float, max_s: float, since: datetime | None = None,
                    actions: CanaryActions | None = None,
                    max_failures: int = 3) -> AutoCanaryResult:
    """Judge the running canary of ``version`` every ``interval_s`` until it is promoted,
    rolled back, or ``max_s`` passed without a difference (retired).

    Fails safe: an analysis that cannot be made (Kafka, MLflow down) is tried again at the
    next interval, and after ``max_failures`` in a row the canary is retired, as a canary
    nobody can judge must not keep deciding; the action comes before its record (MLflow, the
    audit topic), whose failure is only logged. Someone else moving the challenger alias
    (a manual promote or retire) ends the loop without acting.
    """
    if interval_s <= 0 or max_s <= 0:
        raise ValueError("the analysis interval and the longest canary must be positive")
    act = actions or CanaryActions()
    since = since or datetime.now(UTC)
    began = act.clock()
    analyses = failures = 0
    while True:
        left = max_s - (act.clock() - began)
        act.sleep(max(0.0, min(interval_s, left)))
        elapsed = act.clock() - began
        try:
            if act.challenger(settings) != version:
                return AutoCanaryResult(version, ENDED, analyses, elapsed, (
                    f"version {version} is no longer the challenger: changed by hand",))
            evidence, verdict = act.analyse(settings, version, rules, since)
        except Exception as exc:  # noqa: BLE001 - the next interval tries again
            failures += 1
            log.warning("canary of version %s: analysis failed (%d in a row): %s", version,
                        failures, exc)
            if failures < max_failures:
                continue
            why = f"the canary could not be judged {failures} times in a row: {exc}"
            act.retire(settings, version, why)
            return AutoCanaryResult(version, RETIRED, analyses, elapsed, (why,))
        failures = 0
        analyses += 1
        act.on_analysis.append((elapsed, verdict))
        log.info("canary of version %s, analysis %d after %.0f s: %s (%s)", version, analyses,
                 elapsed, verdict.action, "; ".join(verdict.reasons))
        if verdict.action == PROMOTE:
            act.promote(settings, version)
            _record(act, settings, evidence, verdict, rules)
            return AutoCanaryResult(version, PROMOTE, analyses, elapsed, verdict.reasons,
                                    evidence)
        if verdict.action == ROLLBACK:
            act.retire(settings, version, "; ".join(verdict.reasons))
            _record(act, settings, evidence, verdict, rules)
            return AutoCanaryResult(version, ROLLBACK, analyses, elapsed, verdict.reasons,
                                    evidence)
        if elapsed >= max_s:
            shown = f"no difference shown in {max_s:.0f} s: {'; '.join(verdict.reasons)}"
            act.retire(settings, version, shown)
            _record(act, settings, evidence, verdict, rules)
            return AutoCanaryResult(version, RETIRED, analyses, elapsed, (shown,), evidence)


def _record(act: CanaryActions, settings: Settings, evidence: Evidence,
            verdict: CanaryVerdict, rules: CanaryRules) -> None:
    try:
        act.record(settings, evidence, verdict, rules)
    except Exception:  # noqa: BLE001 - the action is done; its record is best effort
        log.exception("canary: the analysis could not be recorded (MLflow, audit topic)")
