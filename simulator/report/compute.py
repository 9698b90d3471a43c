"""From result rows to the report dict: error rates per condition and gender, latency, lag.

Definitions (denominators count only check-ins that got a decision; the
missing ones are reported on their own, as every check-in must be decided):

- false accept rate (FAR): ACCEPT among check-ins that are not genuine,
  including replays, printed photos, unenrolled visitors and empty frames;
- false reject rate (FRR): REJECT among genuine check-ins;
- review rate: REVIEW among genuine check-ins;
- not accepted: REVIEW or REJECT among genuine check-ins;
- ``pad``: presentation-attack detection, APCER and BPCER (see :mod:`simulator.report.pad`).

Every table counts first attempts. Where gates offered a second look (rows with
``second_look_of``), ``per_transaction`` gives the same headline and PAD rates once
each transaction is judged by its last attempt (ISO/IEC 30107-3 reports both).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from simulator.report.pad import pad_stats
from simulator.report.rows import ResultRow, as_rows
from simulator.report.stats import WILSON_BACKEND, percentiles, rate

LagSample = tuple[float, float] | Mapping[str, float]
UNKNOWN = "unknown"


def gender_of(row: ResultRow) -> str:
    """The row's gender slice name."""
    return row.gender or UNKNOWN


def slice_stats(rows: Sequence[ResultRow]) -> dict[str, Any]:
    """Counts, rates with 95% Wilson intervals, reasons, similarity and latency of ``rows``."""
    decided = [r for r in rows if r.outcome is not None]
    genuine = [r for r in decided if r.is_genuine]
    other = [r for r in decided if not r.is_genuine]
    g = Counter(r.outcome for r in genuine)
    o = Counter(r.outcome for r in other)
    return {
        "n": len(rows), "decided": len(decided), "missing": len(rows) - len(decided),
        "genuine": {
            "n": len(genuine), "accept": g["ACCEPT"], "review": g["REVIEW"],
            "reject": g["REJECT"],
            "frr": rate(g["REJECT"], len(genuine)),
            "review_rate": rate(g["REVIEW"], len(genuine)),
            "not_accepted": rate(g["REJECT"] + g["REVIEW"], len(genuine)),
        },
        "non_genuine": {
            "n": len(other), "accept": o["ACCEPT"], "review": o["REVIEW"],
            "reject": o["REJECT"], "far": rate(o["ACCEPT"], len(other)),
        },
        "reasons": dict(sorted(Counter(r.reason or "NONE" for r in decided).items())),
        "similarity": _similarity(decided),
        "latency_ms": percentiles([r.latency_ms for r in decided if r.latency_ms is not None]),
    }


def _similarity(rows: Sequence[ResultRow]) -> dict[str, Any]:
    out = {}
    for key, group in (("genuine", [r for r in rows if r.is_genuine]),
                       ("non_genuine", [r for r in rows if not r.is_genuine])):
        x = np.asarray([r.similarity for r in group if r.similarity is not None], dtype=float)
        out[key] = ({"n": int(x.size), "mean": float(x.mean()), "p05": float(np.quantile(x, 0.05)),
                     "p50": float(np.median(x))} if x.size else {"n": 0})
    return out


def _grouped(rows: Sequence[ResultRow], key: Any, split_gender: bool = True) -> dict[str, Any]:
    """Stats per value of ``key(row)``, each with a per-gender breakdown if ``split_gender``."""
    groups: dict[str, list[ResultRow]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = {}
    for name in sorted(groups):
        members = groups[name]
        by_gender: dict[str, list[ResultRow]] = defaultdict(list)
        for r in members if split_gender else ():
            by_gender[gender_of(r)].append(r)
        out[name] = {"all": slice_stats(members),
                     "by_gender": {g: slice_stats(by_gender[g]) for g in sorted(by_gender)}}
    return out


def _throughput(rows: Sequence[ResultRow]) -> dict[str, Any]:
    done = np.asarray([r.decided_at for r in rows if r.decided_at is not None], dtype=float)
    if done.size == 0:
        return {"decided": 0, "span_s": None, "per_s": None, "peak_per_s": None}
    sent = [r.sent_at for r in rows if r.sent_at is not None]
    start = min(min(sent), float(done.min())) if sent else float(done.min())
    span = float(done.max()) - start
    peak = int(np.bincount((done - done.min()).astype(np.int64)).max())
    return {"decided": int(done.size), "span_s": span,
            "per_s": done.size / span if span > 0 else None, "peak_per_s": peak}


def lag_summary(lag_series: Iterable[LagSample] | None) -> dict[str, Any]:
    """Peak, time of the peak, mean and final value of a consumer-lag series ``(t, lag)``."""
    points = [(float(p["t"]), float(p["lag"])) if isinstance(p, Mapping)
              else (float(p[0]), float(p[1])) for p in (lag_series or [])]
    if not points:
        return {"samples": 0, "peak": None, "peak_at": None, "mean": None, "final": None}
    t, lag = np.asarray(points).T
    i = int(np.argmax(lag))
    return {"samples": len(points), "peak": float(lag[i]), "peak_at": float(t[i]),
            "mean": float(lag.mean()), "final": float(lag[-1])}


def shadow_comparison(rows: Sequence[ResultRow]) -> dict[str, Any] | None:
    """Champion vs the shadow challenger on the check-ins both scored; None without shadows."""
    both = [r for r in rows if r.outcome is not None and r.shadow_outcome is not None]
    if not both:
        return None
    as_shadow = [r.model_copy(update={"outcome": r.shadow_outcome, "reason": r.shadow_reason,
                                      "similarity": r.shadow_similarity}) for r in both]
    transitions = Counter(f"{r.outcome}->{r.shadow_outcome}" for r in both)
    conditions = sorted({r.condition for r in both})
    per_condition = {}
    for c in conditions:
        champ = slice_stats([r for r in both if r.condition == c])
        chall = slice_stats([r for r in as_shadow if r.condition == c])
        per_condition[c] = {"champion": _headline(champ), "challenger": _headline(chall)}
    return {
        "n": len(both),
        "champion_models": sorted({r.model_version for r in both if r.model_version}),
        "challenger_models": sorted({r.shadow_model for r in both if r.shadow_model}),
        "agreement": rate(sum(r.outcome == r.shadow_outcome for r in both), len(both)),
        "transitions": dict(sorted(transitions.items())),
        "champion": slice_stats(both), "challenger": slice_stats(as_shadow),
        "by_condition": per_condition,
    }


def _headline(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {"far": stats["non_genuine"]["far"], "frr": stats["genuine"]["frr"],
            "not_accepted": stats["genuine"]["not_accepted"]}


def per_transaction(rows: Sequence[ResultRow]) -> dict[str, Any] | None:
    """Rates with each check-in judged by its second look where it had one (None: no
    second looks in these rows)."""
    looks = {r.second_look_of: r for r in rows if r.second_look_of}
    if not looks:
        return None
    first = [r for r in rows if not r.second_look_of]
    final = [looks.get(r.checkin_id, r) for r in first]
    taken = Counter(r.condition for r in first if r.checkin_id in looks)
    return {"second_looks": len(looks), "taken_by_condition": dict(sorted(taken.items())),
            **_headline(slice_stats(final)), "pad": pad_stats(final)}


def compute_report(rows: Iterable[ResultRow | Mapping[str, Any]],
                   lag_series: Iterable[LagSample] | None = None) -> dict[str, Any]:
    """The evaluation report as a JSON-ready dict (see the module docstring for definitions)."""
    every = as_rows(rows)
    rs = [r for r in every if not r.second_look_of]
    overall = slice_stats(rs)
    report: dict[str, Any] = {
        "summary": {
            "checkins": len(rs), "decided": overall["decided"], "missing": overall["missing"],
            "far": overall["non_genuine"]["far"], "frr": overall["genuine"]["frr"],
            "review_rate": overall["genuine"]["review_rate"],
            "not_accepted": overall["genuine"]["not_accepted"],
            "latency_ms": overall["latency_ms"], "throughput": _throughput(rs),
            "lag": lag_summary(lag_series), "ci_method": f"wilson ({WILSON_BACKEND})",
            "model_versions": sorted({r.model_version for r in rs if r.model_version}),
        },
        "overall": overall,
        "by_condition": _grouped(rs, lambda r: r.condition),
        "by_probe_kind": _grouped(rs, lambda r: r.probe_kind),
        "by_gender": _grouped(rs, gender_of, split_gender=False),
        "shadow": shadow_comparison(rs),
        "pad": pad_stats(rs),
        "per_transaction": per_transaction(every),
    }
    scenarios = {r.scenario for r in rs if r.scenario}
    if len(scenarios) > 1:
        report["by_scenario"] = _grouped(rs, lambda r: r.scenario or UNKNOWN)
        report["pad_by_scenario"] = {s: pad_stats([r for r in rs if (r.scenario or UNKNOWN) == s])
                                     for s in sorted({r.scenario or UNKNOWN for r in rs})}
    return report
