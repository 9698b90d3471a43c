"""Wilson score intervals of a proportion (a false-accept rate, a review rate).

The interval comes from statsmodels when installed, else scipy, else the closed
form below: neither library is a dependency of ``examgate`` (scipy is only present
when MLflow or scikit-learn pulled it in), and a report must not fail on a base
install. All three give the same numbers.
"""

from __future__ import annotations

import math
from statistics import NormalDist


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
