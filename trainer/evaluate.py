"""Held-out evaluation of an ONNX embedder against the champion on LFW people never trained on.

Faces are detected and aligned once (cached) with the serving pipeline's
detector and alignment, then embedded by each model through the serving
``sface`` embedder. Two measures:

* ``accuracy``: View 2 pair accuracy over the evaluation folds, each fold's
  threshold chosen on the other folds (the published protocol, restricted);
* ``tar_at_far_*``: TAR at FAR 1e-3 and 1e-4 over every pair of evaluation
  images (same person genuine, different people impostor), so the low FARs
  have enough impostors to be measured.

Pairs that touch a calibration identity are left out; a training identity in
the evaluation folds is an error. ``python -m trainer.evaluate --candidate
model.onnx --run out/trainer/sface_finetune`` prints the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config.base import TrainConfig
from trainer.crops import align_files
from trainer.splits import evaluation_pairs

log = logging.getLogger("trainer.evaluate")
FAR_TARGETS = (1e-3, 1e-4)


def evaluate(candidate: Path, champion: Path | None = None, *, lfw_dir: Path,
             eval_folds: Sequence[int] = (0, 1, 2, 3, 4), training: Iterable[str] = (),
             cache_dir: Path | None = None, exclude_calibration: bool = True,
             max_pairs: int | None = None, threads: int = 1) -> dict[str, Any]:
    """Metrics of ``candidate`` and ``champion`` (bundled SFace when None), and their deltas."""
    from examgate.models.lfw import person_of

    pairs = evaluation_pairs(lfw_dir, eval_folds, training=training,
                             exclude_calibration=exclude_calibration)
    if max_pairs is not None:
        pairs = pairs[::max(1, len(pairs) // max_pairs)][:max_pairs]
    names = sorted({n for p in pairs for n in (p.a, p.b)})
    crops = align_files(Path(lfw_dir) / "images", names, cache_dir=cache_dir, tag="lfw-eval")
    index = {n: i for i, n in enumerate(crops.names)}
    pairs = [p for p in pairs if p.a in index and p.b in index]
    people = np.array([person_of(n) for n in crops.names])
    results: dict[str, Any] = {}
    for role, path in (("champion", champion), ("candidate", candidate)):
        emb = embed(crops.faces, path, threads)
        results[role] = {"model": str(path) if path else "bundled:sface",
                         **score(emb, people, pairs, index)}
    numeric = [k for k, v in results["candidate"].items() if isinstance(v, float)]
    results["delta"] = {k: results["candidate"][k] - results["champion"][k] for k in numeric}
    results["protocol"] = {
        "dataset": "LFW View 2", "eval_folds": list(eval_folds), "pairs": len(pairs),
        "images": len(crops.names), "identities": int(len(set(people))),
        "calibration_pairs_excluded": exclude_calibration, "rejected_images": crops.rejected,
    }
    return results


def embed(faces: np.ndarray, model_path: Path | None, threads: int = 1) -> np.ndarray:
    """Unit embeddings of aligned BGR crops through the serving ``sface`` embedder."""
    from examgate.vision.embedders import create_embedder

    embedder = create_embedder("sface", model_path=model_path, intra_op_threads=threads)
    return embedder.embed(faces)


def score(emb: np.ndarray, people: np.ndarray, pairs: Sequence[Any],
          index: dict[str, int]) -> dict[str, float]:
    """Fold-wise pair accuracy and all-pairs TAR@FAR for one model's embeddings."""
    from examgate.models.calibration import accuracy_at, best_accuracy_threshold, operating_point

    sims = np.array([float(emb[index[p.a]] @ emb[index[p.b]]) for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accs = []
    for f in np.unique(folds):
        train = folds != f if len(np.unique(folds)) > 1 else np.ones_like(same)
        thr, _ = best_accuracy_threshold(sims[train & same], sims[train & ~same])
        test = folds == f
        accs.append(accuracy_at(sims[test & same], sims[test & ~same], thr))
    iu = np.triu_indices(len(emb), k=1)
    all_sims = np.einsum("ij,ij->i", emb[iu[0]], emb[iu[1]])
    genuine_mask = people[iu[0]] == people[iu[1]]
    out = {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs))}
    for far in FAR_TARGETS:
        op = operating_point(all_sims[genuine_mask], all_sims[~genuine_mask], far)
        out[f"tar_at_far_{far:.0e}"] = float(op.tar)
        out[f"threshold_at_far_{far:.0e}"] = float(op.threshold)
        out[f"resolvable_far_{far:.0e}"] = op.resolvable
    out["genuine_pairs"] = int(genuine_mask.sum())
    out["impostor_pairs"] = int((~genuine_mask).sum())
    return out


def main(argv: list[str] | None = None) -> int:
    """Evaluate an ONNX embedder against the champion on held-out LFW identities."""
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=main.__doc__)
    parser.add_argument("--candidate", type=Path, required=True)
    parser.add_argument("--champion", type=Path, help="default: the bundled SFace")
    parser.add_argument("--run", type=Path, help="training run folder: its split.json is "
                        "checked for disjointness and gives the evaluation folds")
    parser.add_argument("--lfw-dir", type=Path, default=TrainConfig.lfw_dir)
    parser.add_argument("--folds", default=None, help="comma-separated View 2 folds (0-based)")
    parser.add_argument("--max-pairs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    folds: Sequence[int] = TrainConfig.eval_folds
    training: list[str] = []
    if args.run is not None:
        split = json.loads((args.run / "split.json").read_text())
        folds, training = split["eval_folds"], split["identities"]
    if args.folds:
        folds = [int(f) for f in args.folds.split(",")]
    result = evaluate(args.candidate, args.champion, lfw_dir=args.lfw_dir, eval_folds=folds,
                      training=training, cache_dir=TrainConfig.cache_dir,
                      max_pairs=args.max_pairs, threads=args.threads)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
