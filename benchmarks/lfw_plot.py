"""ROC and DET plots of the LFW all-pairs scores (needs the ``bench`` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from examgate.vision.calibration import roc_curve


def plot_roc_det(curve: tuple[np.ndarray, np.ndarray], result: dict[str, Any],
                 path: Path) -> None:
    """Write a two-panel ROC (TAR vs FAR) and DET (FRR vs FAR) plot to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("plots need matplotlib: pip install 'examgate[bench]'") from exc
    genuine, impostor = curve
    far, tar, _ = roc_curve(genuine, impostor, max_points=4000)
    keep = far > 0
    fig, (roc, det) = plt.subplots(1, 2, figsize=(11, 4.5))
    label = f"{result['detector']} + {result['embedder']}"
    roc.semilogx(far[keep], tar[keep], label=label)
    det.loglog(far[keep], np.maximum(1 - tar[keep], 1e-5), label=label)
    for key, value in result["tar_at_far"].items():
        f = float(key)
        roc.plot([f], [value], "o", label=f"TAR {100 * value:.2f}% @ FAR {key}")
        det.plot([f], [max(1 - value, 1e-5)], "o")
    roc.set(xlabel="FAR (false accept rate)", ylabel="TAR (true accept rate)",
            title=f"ROC, {result['n_impostor']:,} impostor pairs", ylim=(0.9, 1.0005))
    det.set(xlabel="FAR", ylabel="FRR (false reject rate)", title="DET")
    for ax in (roc, det):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right" if ax is roc else "upper right", fontsize=8)
    fig.suptitle(f"LFW: accuracy {100 * result['accuracy']:.2f}% ({result['folds']}-fold)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
