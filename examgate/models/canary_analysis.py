"""Whether a canary did better than the champion: the evidence, and the rules, in one place.

While a challenger runs as canary it decides on a share of gates and is scored in
shadow everywhere else, so every check-in of the canary period carries both models'
outcomes (the decision and its ``shadow``). That pairing is the fair comparison: the
same faces, the same light, the same queue. Proctors' verdicts (the feedback topic)
label some of them, which turns outcomes into confirmed false accepts and rejects.

The rules, in order:

1. **Rollback** when the challenger ACCEPTed a check-in a proctor found to be somebody
   else more often than the champion did: the promise is not traded for convenience.
   (Such an ACCEPT is seen by a proctor only where the champion decided, so a lax
   canary also shows as the next rule's disagreements.)
2. **Wait** while there are fewer than ``min_checkins`` paired check-ins or fewer than
   ``min_verdicts`` proctor verdicts: too little to tell.
3. **Rollback** when the challenger is slower (p95 decision latency over
   ``max_latency_ratio`` x the champion's, both measured where each decided), or sends
   more check-ins to REVIEW with confidence, or rejects more students a proctor
   confirmed (its Wilson interval lies above the champion's).
   Likewise when it ACCEPTs, with confidence, more check-ins the other version REJECTed
   as no match (and no proctor confirmed as the student) than the other way round (the
   same sign test): a model that lets in faces the other turns away as someone else's is
   laxer, whatever its REVIEW rate.
4. **Promote** when it sends fewer check-ins to REVIEW with confidence, rejects no more
   confirmed students, and has no more such unconfirmed ACCEPTs than the champion (fewer
   REVIEWs alone would otherwise make a lax model look better).
5. Otherwise **wait**: no difference shown yet.

"More REVIEWs with confidence" is judged on the pairs themselves (a sign test): only the
check-ins the two versions treat differently say anything, so the share of those sent to
REVIEW by the challenger alone gets a Wilson interval, which bounds the difference of
the REVIEW rates; it must lie wholly beyond ``review_margin`` (a point of REVIEW rate
is not worth a model change). Comparing each version's own interval instead would
throw the pairing away: measured in ``examgate bench release``, a 3.5-point drop over
1,158 paired check-ins (16.2-21.1% against 13.2-17.5%) still overlapped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examgate.core.intervals import wilson_interval

PROMOTE, ROLLBACK, WAIT = "promote", "rollback", "wait"


@dataclass(frozen=True)
class CanaryRules:
    """How much evidence is enough, and what counts as worse."""

    min_checkins: int = 500
    min_verdicts: int = 20
    max_latency_ratio: float = 1.5
    confidence: float = 0.95
    review_margin: float = 0.01


@dataclass
class VersionEvidence:
    """One version's record over the canary's paired check-ins."""

    version: str
    outcomes: Counter = field(default_factory=Counter)  # outcome -> paired check-ins
    reasons: Counter = field(default_factory=Counter)  # reason -> paired check-ins
    false_accepts: int = 0  # ACCEPT where a proctor said DIFFERENT_PERSON
    false_rejects: int = 0  # REJECT where a proctor said SAME_PERSON
    accepts_rejected: int = 0  # ACCEPT where the other version said REJECT, not confirmed
    labelled_genuine: int = 0  # paired check-ins a proctor called SAME_PERSON
    latency_ms: list[float] = field(default_factory=list)  # where this version decided

    @property
    def scored(self) -> int:
        """Paired check-ins this version has an outcome for."""
        return sum(self.outcomes.values())

    def latency_p95(self) -> float | None:
        """p95 of the decision latency where this version decided (None: it never did)."""
        return float(np.percentile(self.latency_ms, 95)) if self.latency_ms else None

    def as_record(self, confidence: float) -> dict[str, Any]:
        """JSON-ready, with the REVIEW rate's interval."""
        n, reviews = self.scored, self.outcomes.get("REVIEW", 0)
        return {"version": self.version, "paired": n, "outcomes": dict(self.outcomes),
                "review_rate": reviews / n if n else None,
                "review_rate_ci": list(wilson_interval(reviews, n, confidence)) if n else None,
                "confirmed_false_accepts": self.false_accepts,
                "confirmed_false_rejects": self.false_rejects,
                "accepted_what_the_other_rejected": self.accepts_rejected,
                "labelled_genuine": self.labelled_genuine,
                "liveness_or_quality": {r: c for r, c in self.reasons.items()
                                        if r in ("PRESENTATION_ATTACK", "LIVENESS_UNCERTAIN",
                                                 "LOW_QUALITY", "NO_FACE")},
                "decided": len(self.latency_ms), "latency_ms_p95": self.latency_p95()}


@dataclass
class Evidence:
    """Both versions over the same check-ins, and the proctors' verdicts among them."""

    champion: VersionEvidence
    challenger: VersionEvidence
    paired: int = 0
    agreed: int = 0
    verdicts: int = 0
    review_champion_only: int = 0  # paired check-ins only the champion sent to REVIEW
    review_challenger_only: int = 0  # ... only the challenger

    def review_difference(self, confidence: float) -> tuple[float, float]:
        """Interval of the challenger's REVIEW rate minus the champion's, on the pairs."""
        n = self.review_champion_only + self.review_challenger_only
        if n == 0 or self.paired == 0:
            return (0.0, 0.0)
        lo, hi = wilson_interval(self.review_challenger_only, n, confidence)
        share = n / self.paired
        return (share * (2 * lo - 1), share * (2 * hi - 1))


def gather(decisions: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]],
           champion: str, challenger: str) -> Evidence:
    """The evidence from Decision and Feedback records (read from their topics)."""
    latest: dict[str, str] = {}
    for fb in feedback:  # the latest verdict per decision counts, as for the training set
        latest[fb["decision_event_id"]] = fb["verdict"]
    ev = Evidence(VersionEvidence(champion), VersionEvidence(challenger))
    by_version = {champion: ev.champion, challenger: ev.challenger}
    for d in decisions:
        shadow = d.get("shadow")
        if d.get("model_version") not in by_version or not shadow \
                or shadow.get("model_version") not in by_version \
                or shadow["model_version"] == d["model_version"]:
            continue
        ev.paired += 1
        ev.agreed += d["outcome"] == shadow["outcome"]
        verdict = latest.get(d["event_id"])
        ev.verdicts += verdict in ("SAME_PERSON", "DIFFERENT_PERSON")
        decider = by_version[d["model_version"]]
        reviews = {d["model_version"]: d["outcome"] == "REVIEW",
                   shadow["model_version"]: shadow["outcome"] == "REVIEW"}
        ev.review_champion_only += reviews[champion] and not reviews[challenger]
        ev.review_challenger_only += reviews[challenger] and not reviews[champion]
        decider.latency_ms.append(float(sum((d.get("latency_ms") or {}).values())))
        pair = ((d["model_version"], d["outcome"], d["reason"], shadow["outcome"],
                 shadow["reason"]),
                (shadow["model_version"], shadow["outcome"], shadow["reason"], d["outcome"],
                 d["reason"]))
        for version, outcome, reason, other, other_reason in pair:
            e = by_version[version]
            e.accepts_rejected += (outcome == "ACCEPT" and other == "REJECT"
                                   and other_reason == "NO_MATCH" and verdict != "SAME_PERSON")
            e.outcomes[outcome] += 1
            e.reasons[reason] += 1
            e.false_accepts += outcome == "ACCEPT" and verdict == "DIFFERENT_PERSON"
            e.false_rejects += outcome == "REJECT" and verdict == "SAME_PERSON"
            e.labelled_genuine += verdict == "SAME_PERSON"
    return ev


@dataclass(frozen=True)
class CanaryVerdict:
    """What to do with the challenger, and why (each reason one line)."""

    action: str  # PROMOTE, ROLLBACK or WAIT
    reasons: tuple[str, ...]


def _above(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] > b[1]


def judge_canary(ev: Evidence, rules: CanaryRules | None = None) -> CanaryVerdict:
    """Apply the rules of this module's docstring to the evidence."""
    rules = rules or CanaryRules()
    ch, cp = ev.champion, ev.challenger
    if cp.false_accepts > ch.false_accepts:
        return CanaryVerdict(ROLLBACK, (
            f"version {cp.version} accepted {cp.false_accepts} check-in(s) a proctor found "
            f"to be someone else (champion: {ch.false_accepts})",))
    if ev.paired < rules.min_checkins or ev.verdicts < rules.min_verdicts:
        return CanaryVerdict(WAIT, (
            f"{ev.paired} paired check-ins (need {rules.min_checkins}) and {ev.verdicts} "
            f"proctor verdicts (need {rules.min_verdicts})",))
    conf = rules.confidence
    review = {e.version: wilson_interval(e.outcomes.get("REVIEW", 0), e.scored, conf)
              for e in (ch, cp)}
    frr = {e.version: wilson_interval(e.false_rejects, max(e.labelled_genuine, 1), conf)
           for e in (ch, cp)}
    worse = []
    slow, fast = cp.latency_p95(), ch.latency_p95()
    if slow is not None and fast is not None and slow > rules.max_latency_ratio * fast:
        worse.append(f"p95 latency {slow:.0f} ms against the champion's {fast:.0f} ms "
                     f"(limit x{rules.max_latency_ratio:g})")
    lax = cp.accepts_rejected + ch.accepts_rejected
    if lax and wilson_interval(cp.accepts_rejected, lax, conf)[0] > 0.5:
        worse.append(f"version {cp.version} accepted {cp.accepts_rejected} check-in(s) the "
                     f"champion rejected as no match, unconfirmed by a proctor (the champion "
                     f"the other way round: {ch.accepts_rejected})")
    diff = ev.review_difference(conf)
    if diff[0] > rules.review_margin:
        worse.append(f"more REVIEWs: {_ci(review[cp.version])} against "
                     f"{_ci(review[ch.version])}; {_paired(ev, diff)}")
    if _above(frr[cp.version], frr[ch.version]):
        worse.append(f"more confirmed false rejects: {_ci(frr[cp.version])} against "
                     f"{_ci(frr[ch.version])}")
    if worse:
        return CanaryVerdict(ROLLBACK, tuple(worse))
    if (diff[1] < -rules.review_margin and cp.false_rejects <= ch.false_rejects
            and cp.accepts_rejected <= ch.accepts_rejected):
        return CanaryVerdict(PROMOTE, (
            f"fewer REVIEWs: {_ci(review[cp.version])} against {_ci(review[ch.version])}; "
            f"{_paired(ev, diff)}; no more false accepts or confirmed false rejects",))
    return CanaryVerdict(WAIT, (f"no difference shown: REVIEW {_ci(review[cp.version])} "
                                f"against {_ci(review[ch.version])}; {_paired(ev, diff)}",))


def _paired(ev: Evidence, diff: tuple[float, float]) -> str:
    return (f"{ev.review_challenger_only} check-in(s) sent to REVIEW by the challenger "
            f"alone, {ev.review_champion_only} by the champion alone (difference "
            f"{100 * diff[0]:+.1f} to {100 * diff[1]:+.1f} points)")


def _ci(interval: tuple[float, float]) -> str:
    return f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"
