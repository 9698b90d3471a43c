"""Proportions with Wilson score intervals (:mod:`examgate.core.intervals`), and latency
percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from examgate.core.intervals import WILSON_BACKEND, wilson_closed_form, wilson_interval

__all__ = ["WILSON_BACKEND", "percentiles", "rate", "wilson_closed_form", "wilson_interval"]


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
