#!/usr/bin/env python3
"""Trial (issue 11): a small learned transform of the embeddings, trained so that women's
and men's false-accept rates meet, with no demographic label at the gate.

Not part of the product: an experiment kept so that it can be repeated. The served
pipeline is unchanged; README ("The promise") gives the conclusions.

The transform is ``f(x) = normalise(x + tanh(x A + b) B)`` (a residual layer of HIDDEN
units on the 128-D SFace embedding). A gate would apply it to every embedding, template
and probe alike; gender labels are used only to train it, in the spirit of "fair template
comparison" (a comparator trained with a fairness term). Loss, per step, on every woman of
the training identities and a sample of 300 men (identities kept whole):
  - standardise the batch's scores by the impostor mean and spread (differentiably, so the
    embedding cannot cheat by shrinking);
  - verification: softplus((t4 - genuine) / 0.5) * 0.5, t4 the batch's FAR-1e-4 impostor
    score (its gradient flows through the sorted element): TAR at FAR 1e-4, smoothed;
  - fairness: weight * (log FAR_women(t4) - log FAR_men(t4))^2, each FAR a sigmoid count at
    the given temperature over same-gender impostor pairs.
Trained on the images of LFW's calibration identities (the View 1 training split and those
people's images in View 2's pairs; disjoint from the held-out people), autograd's Adam, lr 3e-3.
Every EVAL_EVERY steps the held-out report of ``examgate bench lfw`` is computed on the
transformed embeddings (``benchmarks.lfw_heldout.heldout_report``: thresholds calibrated
on the View 1 training split as ``bootstrap`` does, applied to the 3,617 held-out people,
mirrored templates).

Environment: the project's venv plus ``pip install autograd`` (1.9.1 was measured).
  python benchmarks/trials/fair_score_adapter.py embed --out /tmp/lfw-emb.npz    # ~15 min
  python benchmarks/trials/fair_score_adapter.py run --embeddings /tmp/lfw-emb.npz \\
      --hidden 16 --fairness 1 --steps 150 --seed 0 --rows results/fair-score-adapter.jsonl
Measured rows: results/fair-score-adapter.jsonl (one JSON object per evaluation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.lfw import _detector, heldout_names
from benchmarks.lfw_heldout import heldout_report
from examgate.core.settings import load_settings
from examgate.models.calibration import operating_point, pair_scores
from examgate.models.lfw import embed_images, person_of, read_genders, read_pairs
from examgate.vision.embedders.base import Embedder, l2_normalise


class _PlainAndMirrored(Embedder):
    """The configured embedder, run on the face and on its mirror image: 2 x 128 columns."""

    name = "plain-and-mirrored"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @property
    def dim(self) -> int:
        return 2 * self.embedder.dim

    def embed(self, faces: Any) -> np.ndarray:
        faces = np.asarray(faces)
        mirrored = np.ascontiguousarray(faces[:, :, ::-1])
        return np.hstack([self.embedder.embed(faces), self.embedder.embed(mirrored)])


def embed(out: Path, limit: int | None) -> None:
    """Plain and mirrored embeddings of the images of View 2's pairs, the calibration split
    and the held-out people (11,163): the set the measured rows were trained on."""
    from examgate.vision.embedders import create_embedder

    settings = load_settings(None)
    vision, lfw = settings.vision, settings.data.lfw_dir
    cal, held = heldout_names(lfw)
    in_pairs = {n for p in read_pairs(lfw / "pairs.txt") for n in (p.a, p.b)}
    names = sorted(in_pairs | set(cal) | set(held))[:limit]
    detector = _detector(vision.detector, 1, vision.model_cache_dir, vision.onet_path)
    embedder = _PlainAndMirrored(create_embedder(vision.embedder, intra_op_threads=1, flip=False))
    started = time.time()
    result = embed_images(lfw, names, detector, embedder, align_method=vision.align_method)
    np.savez(out, names=np.array(names), emb=result.embeddings)
    print(f"{len(names)} images embedded in {time.time() - started:.0f} s -> {out}")


def _transform(params: list[Any], x: Any) -> Any:
    import autograd.numpy as anp

    a, b, bb = params
    y = x + anp.dot(anp.tanh(anp.dot(x, a) + b), bb)
    return y / anp.sqrt(anp.sum(y * y, axis=1, keepdims=True))


def _loss(params: list[Any], templates: np.ndarray, probes: np.ndarray, ids: np.ndarray,
          gender: np.ndarray, fairness: float, temperature: float) -> Any:
    import autograd.numpy as anp
    from autograd.tracer import getval

    scores = anp.dot(_transform(params, templates), _transform(params, probes).T)
    same = ids[:, None] == ids[None, :]
    genuine, impostor = same & ~np.eye(len(ids), dtype=bool), ~same
    imp = scores[impostor]
    z = (scores - anp.mean(imp)) / anp.std(imp)
    z_imp = z[impostor]
    t4 = anp.sort(z_imp)[-max(5, int(1e-4 * z_imp.size))]
    t4_value = float(getval(t4))

    def soft_far(g: int) -> Any:
        pair = impostor & (gender[:, None] == g) & (gender[None, :] == g)
        return anp.mean(1.0 / (1.0 + anp.exp(-(z[pair] - t4_value) / temperature)))

    verification = anp.mean(anp.logaddexp(0.0, (t4 - z[genuine]) / 0.5)) * 0.5
    return verification + fairness * (anp.log(soft_far(1)) - anp.log(soft_far(2))) ** 2


def _evaluate(params: list[Any], data: dict[str, Any]) -> dict[str, Any]:
    t = np.asarray(_transform(params, data["templates"]))
    p = np.asarray(_transform(params, data["probes"]))
    cal, held = data["cal"], data["held"]
    report = heldout_report(list(data["names"][cal]), p[cal], list(data["names"][held]), p[held],
                            data["genders"], cal_templates=t[cal], held_templates=t[held])
    row: dict[str, Any] = {}
    for key, part in report.items():
        by = part["far_at_accept_by_gender"]
        row[key] = {"accept": part["thresholds"]["accept"], "far": part["far_at_accept"],
                    "far_female": by["female"], "far_male": by["male"],
                    "ratio": by["female"] / max(by["male"], 1e-12),
                    "tar": part["tar_at_accept"]}
    genuine, impostor = pair_scores(data["person"][held], p[held], t[held])
    row["tar_at_far_1e-4"] = operating_point(genuine, impostor, 1e-4).tar
    return row


def run(args: argparse.Namespace) -> None:
    from autograd import grad
    from autograd.misc.optimizers import adam

    settings = load_settings(None)
    lfw = settings.data.lfw_dir
    stored = np.load(args.embeddings)
    names, emb = stored["names"], stored["emb"]
    plain, mirrored = l2_normalise(emb[:, :128]), l2_normalise(emb[:, 128:])
    genders = read_genders(lfw)
    cal_names, held_names = heldout_names(lfw)
    cal_set, held_people = set(cal_names), {person_of(n) for n in held_names}
    person = np.array([person_of(str(n)) for n in names])
    data = {"names": names, "person": person, "probes": plain,
            "templates": l2_normalise(plain + mirrored), "genders": genders,
            "cal": np.array([str(n) in cal_set for n in names]),
            "held": np.array([p in held_people for p in person])}
    train = np.flatnonzero(~data["held"])
    ids = np.unique(person, return_inverse=True)[1]
    gender = np.array([{"female": 1, "male": 2}.get(genders.get(str(n), ""), 0) for n in names])
    women, men = train[gender[train] == 1], train[gender[train] == 2]
    rng = np.random.default_rng(args.seed)
    start = [rng.normal(0.0, 0.01, (128, args.hidden)), np.zeros(args.hidden),
             np.zeros((args.hidden, 128))]
    loss_grad = grad(_loss)
    config = {k: getattr(args, k) for k in ("hidden", "fairness", "temperature", "seed", "lr")}

    def batch_grad(params: list[Any], step: int) -> Any:
        sample = rng.choice(np.unique(ids[men]), 300, replace=False)
        batch = np.concatenate([women, men[np.isin(ids[men], sample)]])
        return loss_grad(params, data["templates"][batch], plain[batch], ids[batch],
                         gender[batch], args.fairness, args.temperature)

    with open(args.rows, "a") if args.rows else contextlib.nullcontext() as rows:
        def report(params: list[Any], step: int, _: Any = None) -> None:
            if step % args.eval_every:
                return
            row = {"step": step, **config, **_evaluate(params, data)}
            s = row["heldout"]
            print(f"step {step:4d}: served accept {s['accept']:.4f} FAR {s['far']:.2e} "
                  f"women {s['far_female']:.2e} men {s['far_male']:.2e} ratio {s['ratio']:.2f} "
                  f"TAR {s['tar']:.4f} TAR@1e-4 {row['tar_at_far_1e-4']:.4f}; one threshold: "
                  f"ratio {row['heldout_raw']['ratio']:.2f}", flush=True)
            if rows:
                rows.write(json.dumps(row) + "\n")
                rows.flush()

        # The callback sees the weights before each step; the last ones are reported here.
        trained = adam(batch_grad, start, callback=report, num_iters=args.steps,
                       step_size=args.lr)
        report(trained, args.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed", help="embed LFW's calibration identities and held-out people")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int, default=None, help="only the first N images (a check)")
    r = sub.add_parser("run", help="train the transform, reporting held-out rates as it goes")
    r.add_argument("--embeddings", type=Path, required=True, help="the npz `embed` wrote")
    r.add_argument("--hidden", type=int, default=16)
    r.add_argument("--fairness", type=float, default=1.0, help="weight of the fairness term")
    r.add_argument("--temperature", type=float, default=0.2, help="of the soft FAR counts")
    r.add_argument("--lr", type=float, default=3e-3)
    r.add_argument("--steps", type=int, default=150)
    r.add_argument("--eval-every", type=int, default=25)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--rows", type=str, default=None, help="append one JSON row per evaluation")
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.out, args.limit)
    else:
        run(args)


if __name__ == "__main__":
    main()
