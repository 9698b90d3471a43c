"""Proportions with Wilson score intervals, and latency percentiles.

The interval comes from statsmodels when installed, else scipy, else the
closed form below: neither library is a dependency of ``examgate`` (scipy is
only present when MLflow or scikit-learn pulled it in), and a report must not
fail on a base install. All three give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np


def _pick_backend() -> str:
    try:
        import statsmodels.stats.proportion  # noqa: F401
        return "statsmodels"
    except ImportError:
        pass
    try:
        import scipy.stats  # noqa: F401
        return "scipy"
    except ImportError:
        return "closed-form"


WILSON_BACKEND = _pick_backend()


def wilson_closed_form(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (no continuity correction)."""
    if n <= 0:
        raise ValueError("the interval needs n > 0")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_interval(k: int, n: int, confidence: float = 0.95,
                    backend: str | None = None) -> tuple[float, float]:
    """Wilson score interval via ``backend`` (default: the best one installed)."""
    backend = backend or WILSON_BACKEND
    if backend == "statsmodels":
        from statsmodels.stats.proportion import proportion_confint
        lo, hi = proportion_confint(k, n, alpha=1.0 - confidence, method="wilson")
    elif backend == "scipy":
        from scipy.stats import binomtest
        ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        lo, hi = ci.low, ci.high
    else:
        lo, hi = wilson_closed_form(k, n, confidence)
    return float(lo), float(hi)


def rate(k: int, n: int) -> dict[str, Any]:
    """``{"k", "n", "rate", "ci95"}``; rate and interval are None when ``n`` is 0."""
    if n == 0:
        return {"k": k, "n": 0, "rate": None, "ci95": None}
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": k / n, "ci95": [lo, hi]}


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, mean, p50, p95, p99 and max of ``values`` (None when empty)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(x, [50, 95, 99])
    return {"n": int(x.size), "mean": float(x.mean()), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "max": float(x.max())}
