"""Report figures as PNG bytes: DET curves per condition, latency and lag over time."""

from __future__ import annotations

import io
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from simulator.report.rows import ResultRow

# Zero-effort impostors: the curve's false-match axis. Attacks and visitors are
# judged by their accept rate, not by where their scores fall.
IMPOSTOR_KINDS = ("impostor_random", "impostor_lookalike")
_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("report plots need matplotlib: pip install 'examgate[bench]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def det_points(genuine: Sequence[float], impostor: Sequence[float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """False-match and false-non-match rates at every score threshold (accept if >= t)."""
    g, i = np.sort(np.asarray(genuine, float)), np.sort(np.asarray(impostor, float))
    thresholds = np.unique(np.concatenate([g, i]))
    fnmr = np.searchsorted(g, thresholds, side="left") / max(g.size, 1)
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / max(i.size, 1)
    return fmr, fnmr


def det_figure(rows: Sequence[ResultRow]) -> bytes | None:
    """DET curves (probit axes), one per genuine condition, against the pooled impostors."""
    impostor = [r.similarity for r in rows
                if r.probe_kind in IMPOSTOR_KINDS and r.similarity is not None]
    conditions = sorted({r.condition for r in rows if r.is_genuine})
    if not impostor or not conditions:
        return None
    plt = _pyplot()
    probit = NormalDist().inv_cdf
    lo = min(_TICKS) / 2
    fig, ax = plt.subplots(figsize=(7, 6))
    for k, c in enumerate(conditions):
        gen = [r.similarity for r in rows
               if r.is_genuine and r.condition == c and r.similarity is not None]
        if not gen:
            continue
        fmr, fnmr = det_points(gen, impostor)
        x = [probit(v) for v in np.clip(fmr, lo, 1 - lo)]
        y = [probit(v) for v in np.clip(fnmr, lo, 1 - lo)]
        # Ten colours, then the next ten dashed, so every curve stays distinguishable.
        ax.plot(x, y, drawstyle="steps-post", color=f"C{k % 10}",
                linestyle=("-", "--", ":")[k // 10 % 3], label=f"{c} (n={len(gen)})")
    ticks = [probit(t) for t in _TICKS]
    labels = [f"{t:.1%}".replace(".0%", "%") for t in _TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(probit(lo), probit(0.5))
    ax.set_ylim(probit(lo), probit(0.5))
    ax.set_xlabel(f"false match rate ({len(impostor)} impostor scores, pooled)")
    ax.set_ylabel("false non-match rate")
    ax.set_title("DET per condition (similarity only, before quality gates)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    return _png(fig)


def latency_figure(rows: Sequence[ResultRow]) -> bytes | None:
    """End-to-end latency of each decision against when it was decided, with a p95 line."""
    pts = sorted((r.decided_at, r.latency_ms) for r in rows
                 if r.decided_at is not None and r.latency_ms is not None)
    if not pts:
        return None
    t, lat = np.asarray(pts).T
    t = t - t[0]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.scatter(t, lat, s=3, alpha=0.4, label="check-in")
    width = max(float(t[-1]) / 60.0, 1.0)  # about 60 windows whatever the run's length
    bins = np.floor(t / width).astype(int)
    wins = np.unique(bins)
    p95 = [np.percentile(lat[bins == w], 95) for w in wins]
    ax.plot((wins + 0.5) * width, p95, color="tab:red", label=f"p95 per {width:.0f} s")
    ax.set_xlabel("seconds since first decision")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def lag_figure(lag: Sequence[tuple[float, float]]) -> bytes | None:
    """Consumer lag (messages) over time."""
    if not lag:
        return None
    t, v = np.asarray(lag, dtype=float).T
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.plot(t - t[0], v, color="tab:purple")
    ax.set_xlabel("seconds since first sample")
    ax.set_ylabel("consumer lag (messages)")
    ax.grid(True, alpha=0.3)
    return _png(fig)
