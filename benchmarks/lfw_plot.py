"""ROC and DET plots of the LFW all-pairs scores (needs the ``bench`` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from examgate.models.calibration import roc_curve


def plot_roc_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], result: dict[str, Any],
                 path: Path) -> None:
    """Write a two-panel ROC (TAR vs FAR) and DET (FRR vs FAR) plot to ``path``.

    ``curves`` maps a slice name ("all", "female", "male") to its genuine and
    impostor scores.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("plots need matplotlib: pip install 'examgate[bench]'") from exc
    fig, (roc, det) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (genuine, impostor) in curves.items():
        far, tar, _ = roc_curve(genuine, impostor, max_points=4000)
        keep = far > 0
        label = f"{name} ({len(impostor):,} impostor pairs)"
        style = "-" if name == "all" else "--"
        roc.semilogx(far[keep], tar[keep], style, label=label)
        frr = 1 - tar[keep]
        det.loglog(far[keep][frr > 0], frr[frr > 0], style, label=label)
    for key, value in result["tar_at_far"].items():
        f = float(key)
        roc.plot([f], [value], "o", label=f"all: TAR {100 * value:.2f}% @ FAR {key}")
        det.plot([f], [1 - value], "o")
    title = f"{result['detector']} + {result['embedder']}"
    roc.set(xlabel="FAR (false accept rate)", ylabel="TAR (true accept rate)",
            title=f"ROC, {title}", ylim=(0.9, 1.0005))
    det.set(xlabel="FAR", ylabel="FRR (false reject rate)", title="DET")
    for ax in (roc, det):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right" if ax is roc else "upper right", fontsize=7)
    fig.suptitle(f"LFW: accuracy {100 * result['accuracy']:.2f}% ({result['folds']}-fold); "
                 f"gender curves: both images of that gender")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
