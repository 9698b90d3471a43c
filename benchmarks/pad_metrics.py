"""ISO/IEC 30107-3 presentation-attack detection metrics over fused live scores.

A presentation *passes* liveness when its score is at or above the pass
threshold (the verdict LIVE). APCER of an attack type is the share of its
attempts that pass; BPCER the share of bona fide presentations that do not
(sent to REVIEW as uncertain, or REJECTed as attacks: both counted, and
reported apart). BPCER at APCER x is the BPCER at the lowest threshold where
every attack type's APCER is at most x (the worst type decides, as the
standard's "maximum APCER over species" does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def pass_rate(scores: Sequence[float], threshold: float) -> float:
    """Share of ``scores`` at or above ``threshold`` (0 for none)."""
    s = np.asarray(scores, dtype=np.float64)
    return float(np.mean(s >= threshold)) if s.size else 0.0


def apcer(attacks: Mapping[str, Sequence[float]], pass_threshold: float) -> dict[str, float]:
    """Attack type -> share of its attempts that pass liveness."""
    return {kind: pass_rate(scores, pass_threshold) for kind, scores in attacks.items()}


def bpcer(bona_fide: Sequence[float], pass_threshold: float) -> float:
    """Share of bona fide presentations that do not pass liveness."""
    s = np.asarray(bona_fide, dtype=np.float64)
    return float(np.mean(s < pass_threshold)) if s.size else 0.0


def threshold_at_apcer(attacks: Mapping[str, Sequence[float]], target: float) -> float:
    """The lowest threshold at which every attack type's APCER is at most ``target``.

    Candidates are just above each attack score (a score equal to the threshold passes),
    so the answer is exact for the samples given.
    """
    pooled = np.concatenate([np.asarray(s, dtype=np.float64) for s in attacks.values()]
                            or [np.zeros(0)])
    if pooled.size == 0:
        return 0.0
    candidates = np.unique(np.concatenate([[0.0], np.nextafter(pooled, np.inf)]))
    for t in candidates:
        if max(pass_rate(s, float(t)) for s in attacks.values()) <= target + 1e-12:
            return float(t)
    return float(np.nextafter(pooled.max(), np.inf))


def bpcer_at_apcer(bona_fide: Sequence[float], attacks: Mapping[str, Sequence[float]],
                   targets: Sequence[float] = (0.01, 0.05)) -> dict[str, float]:
    """``{"0.01": BPCER, "0.05": BPCER}``: BPCER at the threshold of each APCER target."""
    return {f"{t:g}": bpcer(bona_fide, threshold_at_apcer(attacks, t)) for t in targets}


def verdict_counts(scores: Sequence[float], pass_threshold: float,
                   attack_threshold: float) -> dict[str, int]:
    """How many scores are LIVE (>= pass), ATTACK (< attack) and UNCERTAIN (between)."""
    s = np.asarray(scores, dtype=np.float64)
    live = int(np.sum(s >= pass_threshold))
    attack = int(np.sum(s < attack_threshold))
    return {"LIVE": live, "UNCERTAIN": int(s.size) - live - attack, "ATTACK": attack}


def quantiles(values: Sequence[float], qs: Sequence[float] = (0.01, 0.05, 0.5, 0.95, 0.99)
              ) -> dict[str, float]:
    """``{"p1": ..., "p50": ...}`` of ``values`` (empty when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {}
    return {f"p{100 * q:g}": float(np.quantile(v, q)) for q in qs}
