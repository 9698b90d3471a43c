"""Scores and rates for the LFW benchmark: k-fold accuracy, all-pairs TAR@FAR, gender slices."""

from __future__ import annotations

import numpy as np

from examgate.models.calibration import (
    accuracy_at,
    best_accuracy_threshold,
    operating_point,
    rates_at,
)
from examgate.models.lfw import Pair, person_of

FAR_TARGETS = {"1e-3": 1e-3, "1e-4": 1e-4}


def pair_scores(pairs: list[Pair], index: dict[str, int], emb: np.ndarray,
                templates: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of each pair (embeddings are unit length); with ``templates``,
    the pair's first image enrolled and its second presented."""
    a = (emb if templates is None else templates)[[index[p.a] for p in pairs]]
    b = emb[[index[p.b] for p in pairs]]
    return np.einsum("ij,ij->i", a, b)


def kfold_accuracy(pairs: list[Pair], scores: np.ndarray) -> dict[str, object]:
    """Threshold chosen on all folds but one, accuracy measured on that one, for each fold."""
    fold = np.array([p.fold for p in pairs])
    same = np.array([p.same for p in pairs])
    accs, thrs = [], []
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        thr, _ = best_accuracy_threshold(scores[train & same], scores[train & ~same])
        accs.append(accuracy_at(scores[test & same], scores[test & ~same], thr))
        thrs.append(thr)
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "fold_accuracies": [float(a) for a in accs], "fold_thresholds": thrs}


def all_pairs(names: list[str], emb: np.ndarray, templates: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity matrix, same-person mask and the mask of the pairs that count: every
    unordered pair, or with ``templates`` (row i enrolled, column j presented) every
    ordered pair of two different images."""
    people = np.array([person_of(n) for n in names])
    _, ids = np.unique(people, return_inverse=True)
    sim = (emb if templates is None else templates) @ emb.T
    same = ids[:, None] == ids[None, :]
    counted = (np.triu(np.ones(sim.shape, dtype=bool), k=1) if templates is None
               else ~np.eye(len(names), dtype=bool))
    return sim, same, counted


def tar_far_report(names: list[str], emb: np.ndarray, genders: dict[str, str],
                   pairs: list[Pair], pair_score: np.ndarray,
                   templates: np.ndarray | None = None) -> dict[str, object]:
    """TAR at FAR over every different-person pair, overall and per gender at the same thresholds.

    Genuine scores are every same-person pair among the images; the TAR of the
    protocol's own genuine pairs at those thresholds is reported beside it. With
    ``templates`` a pair is one image's template against the other image (both ways).
    """
    sim, same, upper = all_pairs(names, emb, templates)
    genuine = sim[upper & same]
    impostor = sim[upper & ~same]
    out: dict[str, object] = {"n_genuine": int(genuine.size), "n_impostor": int(impostor.size)}
    points = {k: operating_point(genuine, impostor, far) for k, far in FAR_TARGETS.items()}
    out["tar_at_far"] = {k: p.tar for k, p in points.items()}
    out["far_measured"] = {k: p.far for k, p in points.items()}
    out["threshold_at_far"] = {k: p.threshold for k, p in points.items()}
    proto_gen = pair_score[np.array([p.same for p in pairs])]
    out["tar_at_far_protocol_pairs"] = {
        k: float(np.mean(proto_gen >= p.threshold)) for k, p in points.items()
    }
    g = np.array([genders.get(n, "") for n in names])
    tar_g: dict[str, dict[str, float]] = {}
    far_g: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    curves = {"all": (genuine, impostor)}
    for gender in ("female", "male"):
        both = (g[:, None] == gender) & (g[None, :] == gender) & upper
        gen_s, imp_s = sim[both & same], sim[both & ~same]
        if gen_s.size == 0 or imp_s.size == 0:
            continue
        counts[gender] = {"images": int(np.sum(g == gender)), "genuine": int(gen_s.size),
                          "impostor": int(imp_s.size)}
        tar_g[gender], far_g[gender] = {}, {}
        curves[gender] = (gen_s, imp_s)
        for k, p in points.items():
            tar_g[gender][k], far_g[gender][k] = rates_at(gen_s, imp_s, p.threshold)
    out["tar_at_far_by_gender"] = tar_g
    out["far_by_gender"] = far_g
    out["gender_counts"] = counts
    out["_curves"] = curves
    return out


def percentiles(values: np.ndarray, qs: tuple[int, ...] = (50, 95)) -> dict[int, float]:
    """Named percentiles of a timing sample (NaN when empty)."""
    if values.size == 0:
        return {q: float("nan") for q in qs}
    return {q: float(np.percentile(values, q)) for q in qs}
