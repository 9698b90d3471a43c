#!/usr/bin/env python3
"""Trial (issue 11): does the promise hold for students enrolled with several photos?

Not part of the product: a measurement kept so that it can be repeated. The accept
threshold is calibrated on one photo a person (``bootstrap``), and every measurement of
the promise enrolls one photo; ``examgate enroll`` takes several and averages their
(mirrored) embeddings into one template (``Template.from_embeddings``). An average of
several photos of one face is nearer that face's own centre, which raises genuine
scores; what it does to an impostor's score against it is the question. Two ways of
scoring against the average: re-normalising it to unit length (the release before), and
leaving it as it is (served: a probe's similarity to it is the mean of its similarities to
the photos).

The LFW people outside the calibration split with at least ``--most`` + 1 photos are each
enrolled ``--most`` times over: with their first photo, their first two, ... (the same
people every time). Their photos after the first ``--most`` are the genuine probes (the
same for every k); every held-out photo of every other person is an impostor probe
(women's and men's FAR: probe and template of that gender). Thresholds as ``bootstrap``
calibrates them (the served rule, threshold alone: no cohort raise, no look-alike or
cohort checks, no liveness or quality gates).

  python benchmarks/trials/cohort_check.py embed --out /tmp/lfw-sface.npz        # ~6-12 min
  python benchmarks/trials/multi_photo.py --embeddings /tmp/lfw-sface.npz \\
      --json results/multi-photo.json                                             # ~1 min
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.lfw import read_heldout
from examgate.core.cohort import tail_score
from examgate.core.ports import Template
from examgate.core.settings import load_settings
from examgate.models.calibration import threshold_at_far
from examgate.models.lfw import person_of, read_genders

RULES = ("mean of the photos' scores (served)", "re-normalised mean (the release before)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embeddings", type=Path, required=True,
                    help="cohort_check.py embed's file")
    ap.add_argument("--most", type=int, default=3, help="enroll with 1..MOST photos")
    ap.add_argument("--json", type=Path, help="where to write the rows")
    args = ap.parse_args()

    lfw = load_settings(None).data.lfw_dir
    data = read_heldout(args.embeddings, lfw)
    names, plain, mirrored, held = data.names, data.plain, data.templates, data.held
    genders = read_genders(lfw)
    accept = float(data.served_thresholds(genders)["accept"])
    rows_of: dict[str, list[int]] = {}
    for i in held:
        rows_of.setdefault(person_of(names[i]), []).append(i)
    people = sorted(p for p, rows in rows_of.items() if len(rows) > args.most)
    owner = np.array([person_of(names[i]) for i in held])
    gender_of = {p: genders.get(names[rows_of[p][0]], "") for p in rows_of}
    probe_gender = np.array([genders.get(names[i], "") for i in held])
    at = {i: n for n, i in enumerate(held)}  # an image's row among the held-out
    genuine = [(c, at[i]) for c, p in enumerate(people) for i in rows_of[p][args.most:]]

    out: list[dict[str, Any]] = []
    for k, rule in ((k, r) for k in range(1, args.most + 1) for r in RULES):
        templates = np.stack([Template.from_embeddings(p, "trial", mirrored[rows_of[p][:k]])
                              .embedding for p in people])
        if rule == RULES[1]:
            templates /= np.linalg.norm(templates, axis=1, keepdims=True)
        scores = plain[held] @ templates.T                      # every held-out photo x template
        other = owner[:, None] != np.array(people)[None, :]     # impostor cells
        impostor = scores[other]
        row: dict[str, Any] = {
            "photos": k, "scored": rule, "people": len(people), "impostor_pairs": int(other.sum()),
            "far_at_accept": float(np.mean(impostor >= accept)),
            "threshold_for_1e-4": float(threshold_at_far(impostor, 1e-4)),
            "tar_at_accept": float(np.mean([scores[r, c] >= accept for c, r in genuine])),
            "impostor_mean": float(impostor.mean()), "impostor_sd": float(impostor.std()),
            "template_pair_tail_1pct": tail_score(templates, people),
        }
        for g in ("female", "male"):
            cols = np.array([gender_of[p] == g for p in people])
            cell = other & (probe_gender == g)[:, None] & cols[None, :]
            row[f"far_at_accept_{g}"] = float(np.mean(scores[cell] >= accept))
            row[f"impostor_pairs_{g}"] = int(cell.sum())
        out.append(row)
        print(f"{k} photo(s), {rule}: FAR {row['far_at_accept']:.2e} (women "
              f"{row['far_at_accept_female']:.2e}, men {row['far_at_accept_male']:.2e}), "
              f"TAR {row['tar_at_accept']:.4f}, impostor mean {row['impostor_mean']:.4f} "
              f"sd {row['impostor_sd']:.4f}, FAR-1e-4 point {row['threshold_for_1e-4']:.4f}, "
              f"template pairs' 1% point {row['template_pair_tail_1pct']:.4f}")
    result = {"accept": accept, "genuine_probes": len(genuine), "rows": out}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
