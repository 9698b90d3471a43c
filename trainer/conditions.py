"""Conditions a challenger is trained for and measured under: masks, dim light, look-alikes.

Masks and dim light are drawn on already aligned held-out crops with the
shared, seeded transforms of :mod:`examgate.augment`, at the ArcFace landmark
positions, so the detector's behaviour on an altered frame (identical for both
models) does not blur what the embedder alone changes. Look-alikes are each
held-out image's three nearest other people under the champion, mined once and
scored by both models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import TrainConfig
from trainer.gates import cross_rates, gender_rates, lookalike_pairs, pair_rates

TRANSFORM_CONDITIONS = ("mask", "dim")  # drawn with the augment transforms of the same name
CONDITIONS = ("clean", *TRANSFORM_CONDITIONS, "lookalike")
Embed = Callable[[np.ndarray, Path], np.ndarray]


def conditions_in(manifest: dict[str, Any] | None) -> list[str]:
    """Measurable conditions named in a feedback manifest (``genuine:mask+dim`` names two)."""
    if not manifest:
        return []
    named = set()
    for label in manifest["counts"]["by_condition"]:
        parts = label.replace(":", "+").replace("impostor_lookalike", "lookalike").split("+")
        named |= {p.strip() for p in parts}
    return [c for c in CONDITIONS if c in named and c != "clean"]


def alter(crops: np.ndarray, condition: str, seed: int = 0) -> np.ndarray:
    """Aligned crops under ``condition`` (an augment transform), each with its own seed."""
    from examgate.augment import Step, apply_chain
    from examgate.vision.align import ARCFACE_TEMPLATE_112

    return np.stack([apply_chain(face, [Step(condition, {}, seed + i)],
                                 landmarks=ARCFACE_TEMPLATE_112)
                     for i, face in enumerate(crops)]) if len(crops) else crops.copy()


def evaluation_names(cfg: TrainConfig, training: Sequence[str] = (),
                     max_pairs: int | None = None) -> list[str]:
    """The held-out images ``trainer.evaluate.evaluate`` scores (same pairs, same subset)."""
    from trainer.splits import evaluation_pairs

    pairs = evaluation_pairs(cfg.lfw_dir, cfg.eval_folds, training=training)
    if max_pairs is not None:
        pairs = pairs[::max(1, len(pairs) // max_pairs)][:max_pairs]
    return sorted({n for p in pairs for n in (p.a, p.b)})


def measure_conditions(cfg: TrainConfig, names: Sequence[str],
                       models: dict[str, tuple[Path, float]], *, flip: bool = False,
                       threads: int = 2, seed: int = 7, embed: Embed | None = None,
                       ) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Role -> (condition rates, gender rates) at each model's accept threshold.

    ``models`` maps "champion" (first: it mines the look-alikes) and
    "candidate" to (ONNX path, accept threshold).
    """
    from examgate.models.lfw import person_of, read_genders
    from trainer.crops import align_files

    crops = align_files(cfg.lfw_dir / "images", list(names), cache_dir=cfg.cache_dir,
                        tag="lfw-eval")
    people = np.array([person_of(n) for n in crops.names])
    labels = read_genders(cfg.lfw_dir)
    genders = np.array([labels.get(n, "") for n in crops.names])
    altered = {c: alter(crops.faces, c, seed) for c in TRANSFORM_CONDITIONS}
    embed = embed or onnx_embed(flip, threads)
    out, pairs = {}, None
    for role, (path, threshold) in models.items():
        clean = embed(crops.faces, path)
        pairs = lookalike_pairs(clean, people) if pairs is None else pairs
        conditions = {"clean": cross_rates(clean, clean, people, threshold),
                      **{c: cross_rates(clean, embed(a, path), people, threshold)
                         for c, a in altered.items()},
                      "lookalike": pair_rates(clean, pairs, threshold)}
        out[role] = (conditions, gender_rates(clean, people, genders, threshold))
    return out


def onnx_embed(flip: bool, threads: int) -> Embed:
    """embed(faces, model_path): unit embeddings through the serving ``sface`` embedder."""
    from examgate.vision import create_embedder

    def embed(faces: np.ndarray, path: Path) -> np.ndarray:
        embedder = create_embedder("sface", model_path=path, flip=flip, intra_op_threads=threads,
                                   max_batch=64)
        return embedder.embed(faces)

    return embed
