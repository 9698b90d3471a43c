"""Score distributions of the PAD benchmark (needs the ``bench`` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_scores(scores: dict[str, list[float]], result: dict[str, Any], path: Path) -> None:
    """One histogram row per presentation type, the thresholds drawn across all of them."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("plots need matplotlib: pip install 'examgate[bench]'") from exc
    names = [n for n in scores if scores[n]]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.3 * len(names) + 1), sharex=True,
                             squeeze=False)
    bins = np.linspace(0.0, 1.0, 51)
    p, a = result["thresholds"]["pass"], result["thresholds"]["attack"]
    for ax, name in zip(axes[:, 0], names, strict=True):
        live = name in ("bona_fide", "lfw_single_frame")
        ax.hist(scores[name], bins=bins, color="tab:green" if live else "tab:red", alpha=0.8)
        ax.axvline(p, color="black", linestyle="-", linewidth=1)
        ax.axvline(a, color="black", linestyle="--", linewidth=1)
        ax.set_ylabel(f"{name}\n(n={len(scores[name])})", rotation=0, ha="right", va="center",
                      fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel(f"fused live score (solid: pass >= {p:.3f}; dashed: attack < {a:.3f})")
    fig.suptitle("Liveness scores by presentation (synthetic attacks; green: live people)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
