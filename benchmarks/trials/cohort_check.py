#!/usr/bin/env python3
"""Trial (issue 11): what the look-alike lists and the cohort check stop, over held-out LFW.

Not part of the product: a measurement kept so that it can be repeated. Each of the
3,617 LFW people outside the calibration split is enrolled with the mirrored template of
their first photo; each of their other 2,931 photos is claimed as themselves and as every
other enrolled person (10.6 million impostor claims, every impostor enrolled too). Thresholds
are calibrated as ``bootstrap`` does (``benchmarks.lfw_heldout.heldout_report``, the served
rule). Every claim at or above the accept threshold is then held, by the product's own
``examgate.core.lookalikes`` and ``examgate.core.cohort``, against: nothing (the threshold
alone), the claimed student's look-alike list (the release before), and the list and every
other enrolled template (served). Liveness and quality gates are left out: this counts what
the matching policy does to a score. It also measures what ``examgate enroll --report``
checks without labels (pairs of enrolled templates at or above the accept threshold)
against the probes' own rate.

  python benchmarks/trials/cohort_check.py embed --out /tmp/lfw-sface.npz        # ~12 min
  python benchmarks/trials/cohort_check.py report --embeddings /tmp/lfw-sface.npz \\
      --json results/cohort-check.json
(``report`` also reads ``baseline_recogniser.py embed``'s file with ``--first 128``, its SFace
columns.)
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.lfw import embed_heldout, read_heldout
from examgate.core import lookalikes, policy
from examgate.core.cohort import Cohort, pair_rate
from examgate.core.policy import Thresholds, Verdict
from examgate.core.ports import Template
from examgate.core.settings import load_settings
from examgate.models.lfw import person_of, read_genders
from examgate.vision.embedders import create_embedder

RULES = ("threshold alone", "look-alike lists", "lists and cohort check")


def embed(out: Path, limit: int | None) -> None:
    """The served SFace's embeddings of the calibration and held-out images."""
    embed_heldout(create_embedder(load_settings(None).vision.embedder, intra_op_threads=1,
                                  flip=False), out, limit)


def report(embeddings: Path, out: Path | None, first: int | None) -> None:
    settings = load_settings(None)
    lfw, margin = settings.data.lfw_dir, settings.checkin.lookalike_margin
    data = read_heldout(embeddings, lfw, first)
    names, plain, mirrored, held = data.names, data.plain, data.templates, data.held
    genders = read_genders(lfw)
    t = data.served_thresholds(genders)
    thresholds = Thresholds(accept=t["accept"], reject=t["reject"])
    first_photo = data.first_photos(held)
    templates = {p: Template.from_embeddings(p, "trial", mirrored[i][None])
                 for p, i in first_photo.items()}
    enrolled = sorted(templates)
    cohort = Cohort.of("trial", (templates[p] for p in enrolled))
    lists = {p: {s: templates[s] for s, _ in lookalikes.find_lookalikes(
        t, templates.values(), thresholds.reject)} for p, t in templates.items()}
    probes = [i for i in held if first_photo[person_of(names[i])] != i]
    scores = plain[probes] @ cohort.embeddings.T
    gender = {p: genders.get(names[i], "") for p, i in first_photo.items()}
    accepted: dict[str, Counter[str]] = {rule: Counter() for rule in RULES}
    genuine_held: Counter[str] = Counter()
    left: Counter[str] = Counter()
    for row, col in zip(*np.nonzero(scores >= thresholds.accept), strict=True):
        probe, claimed = person_of(names[probes[row]]), enrolled[col]
        verdicts = _held(plain[probes[row]], float(scores[row, col]), claimed, lists, cohort,
                         thresholds, margin)
        same = gender[probe] if gender[probe] == gender[claimed] else "mixed"
        for rule, verdict in zip(RULES, verdicts, strict=True):
            if probe == claimed:
                genuine_held[rule] += verdict.outcome != policy.ACCEPT
            elif verdict.outcome == policy.ACCEPT:
                accepted[rule].update(["all", same])
        if probe != claimed and verdicts[-1].outcome == policy.ACCEPT:
            left[f"{probe} as {claimed}"] += 1
    column = {p: k for k, p in enumerate(enrolled)}
    claims = _impostor_claims([gender[person_of(names[i])] for i in probes],
                              [gender[p] for p in enrolled])
    rows: dict[str, Any] = {
        "note": __doc__.split("\n\n")[0], "thresholds": t, "margin": margin,
        "enrolled": len(enrolled), "probes": len(probes), "impostor_claims": claims,
        "genuine_accepts": int(sum(scores[k, column[person_of(names[i])]] >= thresholds.accept
                                   for k, i in enumerate(probes))),
        "genuine_accepts_sent_to_review": dict(genuine_held),
        "false_accepts": {rule: dict(c) for rule, c in accepted.items()},
        "far": {rule: {g: c[g] / claims[g] for g in claims} for rule, c in accepted.items()},
        "left_by_cohort_check": dict(left.most_common()),
        # What `examgate enroll --report` measures without labels: pairs of enrolled
        # templates at or above the accept threshold, against the probes' rate above.
        "template_pair_rate": {g: pair_rate(Cohort.of("trial", (
            templates[p] for p in enrolled if g == "all" or gender[p] == g)),
            thresholds.accept, thresholds.accept_far).rate for g in ("all", "female", "male")},
    }
    for rule in RULES:
        far = rows["far"][rule]
        print(f"{rule:24s} false accepts {accepted[rule]['all']:4d}  FAR {far['all']:.2e}  "
              f"women {far['female']:.2e}  men {far['male']:.2e}  genuine ACCEPTs to a "
              f"proctor {genuine_held[rule]} of {rows['genuine_accepts']}")
    print("pairs of enrolled templates at or above it (enroll --report's check):",
          {g: f"{r:.2e}" for g, r in rows["template_pair_rate"].items()})
    if out:
        out.write_text(json.dumps(rows, indent=1))
        print(f"-> {out}")


def _held(probe: np.ndarray, similarity: float, claimed: str,
          lists: dict[str, dict[str, Template]], cohort: Cohort, thresholds: Thresholds,
          margin: float) -> tuple[Verdict, ...]:
    """An ACCEPT at ``similarity`` as each rule of :data:`RULES` leaves it."""
    accept = Verdict(policy.ACCEPT, "MATCH", f"similarity {similarity:.3f}")
    return (accept,
            lookalikes.guard(accept, probe, similarity, lists[claimed], thresholds, margin),
            lookalikes.guard(accept, probe, similarity, lists[claimed], thresholds, margin,
                             cohort.best_other(probe, claimed)))


def _impostor_claims(probe_gender: list[str], enrolled_gender: list[str]) -> dict[str, int]:
    """Impostor claims overall and within each gender (probe and claimed of that gender);
    each probe's own enrolled person is not an impostor claim."""
    per_probe, per_enrolled = Counter(probe_gender), Counter(enrolled_gender)
    out = {"all": len(probe_gender) * (len(enrolled_gender) - 1)}
    for g in ("female", "male"):
        out[g] = per_probe[g] * (per_enrolled[g] - 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed", help="embed the calibration and held-out images (SFace)")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int, default=None, help="first N images only (a smoke run)")
    r = sub.add_parser("report", help="false accepts between enrolled people, by rule")
    r.add_argument("--embeddings", type=Path, required=True)
    r.add_argument("--json", type=Path, default=None)
    r.add_argument("--first", type=int, default=None,
                   help="use the first N columns only (128: SFace's in baseline_recogniser's)")
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.out, args.limit)
    else:
        report(args.embeddings, args.json, args.first)


if __name__ == "__main__":
    main()
