"""Thresholds from scores: the FAR-target threshold, TAR at that FAR, ROC, best accuracy,
and :func:`calibrate_thresholds`, the one way a model version's decision thresholds are found.

Pure numpy. A pair is accepted when ``score >= threshold``. Impostor scores
may number tens of millions, so nothing here sorts more than it must.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from examgate.core.cohort import tail_score
from examgate.core.policy import Thresholds

ACCEPT_FAR, REJECT_FAR = 1e-4, 1e-3  # accept at FAR 1e-4; below the FAR 1e-3 threshold, reject


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """The threshold chosen for a target FAR and what it achieves."""

    target_far: float
    threshold: float
    far: float
    tar: float
    n_genuine: int
    n_impostor: int

    @property
    def resolvable(self) -> bool:
        """False when there are too few impostors to measure ``target_far`` (fewer than 1/FAR)."""
        return self.target_far * self.n_impostor >= 1.0


def _scores(values: np.ndarray | list[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"no {what} scores")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} scores contain NaN or infinity")
    return arr


def threshold_at_far(impostor: np.ndarray | list[float], target_far: float) -> float:
    """The lowest threshold whose false-accept rate on ``impostor`` is at most ``target_far``."""
    if not 0.0 <= target_far <= 1.0:
        raise ValueError("target_far must lie in [0, 1]")
    imp = _scores(impostor, "impostor")
    allowed = int(np.floor(target_far * imp.size + 1e-9))
    if allowed >= imp.size:
        return float(imp.min())
    # The (allowed+1)-th highest impostor must be rejected, and with it every tie.
    kth = imp.size - allowed - 1
    boundary = float(np.partition(imp, kth)[kth])
    return float(np.nextafter(boundary, np.inf))


def rates_at(genuine: np.ndarray | list[float], impostor: np.ndarray | list[float],
             threshold: float) -> tuple[float, float]:
    """(TAR, FAR) when accepting ``score >= threshold``."""
    gen = _scores(genuine, "genuine")
    imp = _scores(impostor, "impostor")
    return float(np.mean(gen >= threshold)), float(np.mean(imp >= threshold))


def operating_point(genuine: np.ndarray | list[float], impostor: np.ndarray | list[float],
                    target_far: float) -> OperatingPoint:
    """Threshold for ``target_far`` on ``impostor`` and the TAR/FAR it gives."""
    gen = _scores(genuine, "genuine")
    imp = _scores(impostor, "impostor")
    thr = threshold_at_far(imp, target_far)
    tar, far = rates_at(gen, imp, thr)
    return OperatingPoint(target_far, thr, far, tar, gen.size, imp.size)


def tar_at_far(genuine: np.ndarray | list[float], impostor: np.ndarray | list[float],
               target_far: float) -> float:
    """True-accept rate at the threshold chosen for ``target_far``."""
    return operating_point(genuine, impostor, target_far).tar


def roc_curve(genuine: np.ndarray | list[float], impostor: np.ndarray | list[float],
              max_points: int | None = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds), thresholds descending, FAR and TAR rising from (0, 0).

    With ``max_points`` the thresholds are quantiles of all scores, so a curve
    over millions of impostors stays cheap to draw; ``None`` gives every
    distinct score.
    """
    gen = np.sort(_scores(genuine, "genuine"))
    imp = np.sort(_scores(impostor, "impostor"))
    both = np.concatenate([gen, imp])
    if max_points is None or both.size <= max_points:
        thr = np.unique(both)[::-1]
    else:
        # Dense near the top, where low FARs live: quantiles of the impostors' tail too.
        qs = np.linspace(0.0, 1.0, max_points // 2)
        tail = 1.0 - np.geomspace(1.0 / imp.size, 1.0, max_points // 2)
        thr = np.unique(np.concatenate([np.quantile(both, qs), np.quantile(imp, tail)]))[::-1]
    tar = (gen.size - np.searchsorted(gen, thr, side="left")) / gen.size
    far = (imp.size - np.searchsorted(imp, thr, side="left")) / imp.size
    thresholds = np.concatenate([[np.inf], thr])
    return np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]), thresholds


def best_accuracy_threshold(genuine: np.ndarray | list[float],
                            impostor: np.ndarray | list[float]) -> tuple[float, float]:
    """(threshold, accuracy) maximising (TA + TR) / all over every candidate threshold."""
    gen = np.sort(_scores(genuine, "genuine"))
    imp = np.sort(_scores(impostor, "impostor"))
    cands = np.unique(np.concatenate([gen, imp, [np.inf]]))
    accepted_gen = gen.size - np.searchsorted(gen, cands, side="left")
    rejected_imp = np.searchsorted(imp, cands, side="left")
    acc = (accepted_gen + rejected_imp) / (gen.size + imp.size)
    best = int(np.argmax(acc))
    # Midway to the next lower score generalises better than sitting on a sample.
    thr = float(cands[best])
    if best > 0 and np.isfinite(thr):
        thr = float((cands[best] + cands[best - 1]) / 2.0)
    return thr, float(acc[best])


def accuracy_at(genuine: np.ndarray | list[float], impostor: np.ndarray | list[float],
                threshold: float) -> float:
    """Fraction of pairs decided correctly at ``threshold``."""
    gen = _scores(genuine, "genuine")
    imp = _scores(impostor, "impostor")
    correct = np.count_nonzero(gen >= threshold) + np.count_nonzero(imp < threshold)
    return correct / (gen.size + imp.size)


def pair_scores(identities: Sequence[str] | np.ndarray, embeddings: np.ndarray,
                templates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor cosine scores over every pair of unit embeddings.

    Two images of the same identity make a genuine pair, of different ones an
    impostor pair; n images give n(n-1)/2 pairs, so a FAR of 1e-4 is
    resolvable from a few thousand images. With ``templates`` (each image embedded
    as enrollment embeds it, row for row) a pair is one image enrolled and the other
    presented at the gate, both ways round: n(n-1) ordered pairs.
    """
    people = np.asarray(identities)
    emb = np.asarray(embeddings)
    if len(people) != len(emb):
        raise ValueError(f"{len(people)} identities for {len(emb)} embeddings")
    if templates is None:
        sims = emb @ emb.T
        at = np.triu_indices(len(people), k=1)
    else:
        if np.shape(templates) != emb.shape:
            raise ValueError(f"templates {np.shape(templates)} for embeddings {emb.shape}")
        sims = np.asarray(templates) @ emb.T
        rows, cols = np.nonzero(~np.eye(len(people), dtype=bool))
        at = (rows, cols)
    same = people[at[0]] == people[at[1]]
    scores = sims[at]
    return scores[same], scores[~same]


MIN_SLICE_EVENTS = 10  # a slice needs this many impostor pairs at the target FAR to count


@dataclass(frozen=True, slots=True)
class SlicePoint(OperatingPoint):
    """A slice's own operating point, and its rates at the served threshold."""

    far_at_served: float = float("nan")
    tar_at_served: float = float("nan")


@dataclass(frozen=True, slots=True)
class ThresholdFit:
    """A model's decision thresholds and the operating points they were read from.

    ``accept`` is the served accept point (over every pair); when slices were given,
    ``slices`` holds each labelled group's own FAR-target point and the served
    threshold is the highest of them all.
    """

    thresholds: Thresholds
    accept: OperatingPoint
    reject: OperatingPoint
    slices: dict[str, SlicePoint] = field(default_factory=dict)
    skipped_slices: dict[str, int] = field(default_factory=dict)  # too small: impostor pairs

    @property
    def metrics(self) -> dict[str, float]:
        """TAR at each FAR and the pair counts, as the registry records them."""
        out = {f"calib_tar_at_far_{_far_label(self.accept.target_far)}": self.accept.tar,
               f"calib_tar_at_far_{_far_label(self.reject.target_far)}": self.reject.tar,
               "calib_genuine_pairs": float(self.accept.n_genuine),
               "calib_impostor_pairs": float(self.accept.n_impostor)}
        if self.slices:
            out["calib_far_at_accept"] = self.accept.far
        for name, point in self.slices.items():
            out[f"calib_slice_{name}_accept_threshold"] = point.threshold
            out[f"calib_slice_{name}_far_at_accept"] = float(point.far_at_served)
        return out

    def spec(self) -> dict[str, object]:
        """How the accept threshold was chosen, for the model version's spec."""
        return {"rule": "highest of the overall and each labelled slice's FAR-target "
                        "threshold" if self.slices else "FAR target over every pair",
                "accept_far": self.accept.target_far,
                "slices": {name: {"threshold": p.threshold, "impostor_pairs": p.n_impostor,
                                  "genuine_pairs": p.n_genuine,
                                  "far_at_accept": p.far_at_served,
                                  "tar_at_accept": p.tar_at_served}
                           for name, p in self.slices.items()},
                "skipped_slices": dict(self.skipped_slices)}


def calibrate_thresholds(identities: Sequence[str] | np.ndarray, embeddings: np.ndarray, *,
                         accept_far: float = ACCEPT_FAR, reject_far: float = REJECT_FAR,
                         replay: float | None = None,
                         slices: Sequence[str] | np.ndarray | None = None,
                         templates: np.ndarray | None = None) -> ThresholdFit:
    """Accept at ``accept_far``, reject below the ``reject_far`` threshold, over every pair.

    ``slices`` gives each image a group label (gender, say; "" = unlabelled). The
    accept threshold is then the highest of the overall one and each group's own
    (over impostor pairs with both images in the group: look-alikes are mostly of
    one group), so the accept FAR holds for every labelled group and not only on
    average. Labels are used here only; serving never sees them. A group with
    fewer than ``MIN_SLICE_EVENTS / accept_far`` impostor pairs cannot be measured
    at that FAR and is skipped (and recorded). ``replay`` carries a replay
    threshold over (None: the policy's default). ``templates``: score each image's
    template against every other image, as a gate scores a probe (:func:`pair_scores`).
    """
    genuine, impostor = pair_scores(identities, embeddings, templates)
    accept = operating_point(genuine, impostor, accept_far)
    reject = operating_point(genuine, impostor, reject_far)
    points: dict[str, OperatingPoint] = {}
    skipped: dict[str, int] = {}
    scored = (slice_pair_scores(identities, embeddings, slices, templates)
              if slices is not None else {})
    for name, (gen_s, imp_s) in scored.items():
        if imp_s.size * accept_far < MIN_SLICE_EVENTS or gen_s.size == 0:
            skipped[name] = int(imp_s.size)
        else:
            points[name] = operating_point(gen_s, imp_s, accept_far)
    served = max([accept.threshold, *(p.threshold for p in points.values())])
    if served > accept.threshold:
        tar, far = rates_at(genuine, impostor, served)
        accept = OperatingPoint(accept_far, served, far, tar, accept.n_genuine,
                                accept.n_impostor)
    by_slice = {}
    for name, point in points.items():
        tar_s, far_s = rates_at(*scored[name], served)
        by_slice[name] = SlicePoint(point.target_far, point.threshold, point.far, point.tar,
                                    point.n_genuine, point.n_impostor, far_s, tar_s)
    extra = {} if replay is None else {"replay": replay}
    thresholds = Thresholds(accept=served, reject=min(reject.threshold, served),
                            accept_far=accept_far, reject_far=reject_far,
                            cohort_tail=tail_score(*one_template_each(identities, embeddings,
                                                                      templates)), **extra)
    return ThresholdFit(thresholds, accept, reject, by_slice, skipped)


def one_template_each(identities: Sequence[str] | np.ndarray, embeddings: np.ndarray,
                      templates: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Each identity's first image as a template (``templates`` where given), and whose it
    is: the calibration people as an enrolled cohort of one photo each, whose pair tail a
    real one's is compared with (:func:`examgate.core.cohort.thresholds_among`)."""
    people = np.asarray(identities)
    first = np.sort(np.unique(people, return_index=True)[1])
    rows = np.asarray(embeddings if templates is None else templates)[first]
    return rows, [str(p) for p in people[first]]


def slice_pair_scores(identities: Sequence[str] | np.ndarray, embeddings: np.ndarray,
                      slices: Sequence[str] | np.ndarray | None,
                      templates: np.ndarray | None = None
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Genuine and impostor scores of the pairs with both images in each labelled group."""
    labels = np.asarray(slices if slices is not None else [], dtype=str)
    people = np.asarray(identities)
    if len(labels) != len(people):
        raise ValueError(f"{len(labels)} slice labels for {len(people)} images")
    emb = np.asarray(embeddings)
    out = {}
    for name in sorted(set(labels.tolist()) - {""}):
        idx = np.flatnonzero(labels == name)
        out[name] = pair_scores(people[idx], emb[idx],
                                None if templates is None else np.asarray(templates)[idx])
    return out


def _far_label(far: float) -> str:
    """1e-4 -> "1e-4" (the metric names the registry has always used)."""
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"
