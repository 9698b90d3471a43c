"""The promise on people the thresholds never saw: FAR at the served thresholds, by gender.

Thresholds are calibrated exactly as ``examgate bootstrap`` calibrates them (every pair
of LFW View 1's training split), once with the served rule (the highest of the overall
and each gender's FAR-1e-4 threshold) and once with one overall threshold (the rule
before, ``heldout_raw``). Both are then applied to every pair of the LFW identities
that are not in that split: FAR overall and within women and within men (impostor
pairs with both images of that gender: look-alikes are mostly of one gender).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from examgate.models.calibration import ThresholdFit, calibrate_thresholds, pair_scores, rates_at
from examgate.models.lfw import person_of

GENDERS = ("female", "male")


def heldout_report(cal_names: list[str], cal_emb: np.ndarray, held_names: list[str],
                   held_emb: np.ndarray, genders: dict[str, str],
                   cal_templates: np.ndarray | None = None,
                   held_templates: np.ndarray | None = None) -> dict[str, Any]:
    """``{"heldout": served rule, "heldout_raw": one overall threshold}`` on the held-out set;
    with templates (both sets or neither), every pair is template against probe."""
    if (cal_templates is None) != (held_templates is None):
        raise ValueError("templates for one set only: calibrate and measure alike")
    people = [person_of(n) for n in cal_names]
    overlap = set(people) & {person_of(n) for n in held_names}
    if overlap:
        raise ValueError(f"{len(overlap)} held-out identities are in the calibration split")
    served = calibrate_thresholds(people, cal_emb, templates=cal_templates,
                                  slices=[genders.get(n, "") for n in cal_names])
    raw = calibrate_thresholds(people, cal_emb, templates=cal_templates)
    held_people = np.array([person_of(n) for n in held_names])
    g = np.array([genders.get(n, "") for n in held_names])
    scores = {"all": pair_scores(held_people, held_emb, held_templates)}
    for gender in GENDERS:
        idx = np.flatnonzero(g == gender)
        scores[gender] = pair_scores(held_people[idx], held_emb[idx],
                                     None if held_templates is None else held_templates[idx])
    return {"heldout": _rates(served, scores, len(set(held_people)), len(held_names)),
            "heldout_raw": _rates(raw, scores, len(set(held_people)), len(held_names))}


def _rates(fit: ThresholdFit, scores: dict[str, tuple[np.ndarray, np.ndarray]],
           identities: int, images: int) -> dict[str, Any]:
    t = fit.thresholds
    out: dict[str, Any] = {"identities": identities, "images": images,
                           "thresholds": {"accept": t.accept, "reject": t.reject},
                           "target_far": t.accept_far, "rule": fit.spec()["rule"],
                           "genuine_pairs": int(scores["all"][0].size),
                           "impostor_pairs": int(scores["all"][1].size)}
    tar, far = rates_at(*scores["all"], t.accept)
    out["far_at_accept"], out["tar_at_accept"], out["frr"] = far, tar, 1.0 - tar
    out["far_at_accept_by_gender"], out["tar_at_accept_by_gender"] = {}, {}
    out["pairs_by_gender"] = {}
    for gender in GENDERS:
        gen, imp = scores[gender]
        if gen.size == 0 or imp.size == 0:
            continue
        tar_g, far_g = rates_at(gen, imp, t.accept)
        out["far_at_accept_by_gender"][gender] = far_g
        out["tar_at_accept_by_gender"][gender] = tar_g
        out["pairs_by_gender"][gender] = {"genuine": int(gen.size), "impostor": int(imp.size)}
    by = out["far_at_accept_by_gender"]
    # None when either FAR is unmeasured or men's is zero (no ratio to speak of).
    out["far_ratio_female_male"] = (by["female"] / by["male"]
                                    if by.get("male") and "female" in by else None)
    return out

