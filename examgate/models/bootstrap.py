"""Model bootstrap: register the bundled detector and embedder as model version 1 (``champion``),
with decision thresholds calibrated on LFW View 1's training split (pairsDevTrain.txt).

Calibration uses every pair among the split's images (same person: genuine,
different people: impostor), so a FAR of 1e-4 is resolvable (millions of
impostor pairs rather than the 1,100 listed ones). The identities used here
are recorded, so evaluation and simulation can keep away from them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from examgate.adapters import factory as ports
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.models import lfw
from examgate.models.calibration import calibrate_thresholds
from examgate.vision.model_files import locate_model

log = logging.getLogger("examgate.models.bootstrap")
CALIBRATION_SPLIT = "pairsDevTrain.txt"


@dataclass(frozen=True)
class Calibration:
    """Thresholds and how they were found."""

    thresholds: Thresholds
    metrics: dict[str, float]
    identities: tuple[str, ...]


def calibration_identities(lfw_dir: Path) -> set[str]:
    """Every identity in the calibration split: never to be used for evaluation."""
    pairs = lfw.read_pairs(lfw_dir / CALIBRATION_SPLIT)
    return {lfw.person_of(n) for p in pairs for n in (p.a, p.b)}


def calibration_images(lfw_dir: Path) -> list[str]:
    """Every image of the calibration split, sorted (``person/person_0001.jpg``)."""
    return sorted({n for p in lfw.read_pairs(lfw_dir / CALIBRATION_SPLIT) for n in (p.a, p.b)})


def calibrate(settings: Settings, lfw_dir: Path, cache_dir: Path) -> Calibration:
    """Embed the calibration images (cached per model files) and pick the thresholds."""
    from examgate.vision import create_detector, create_embedder

    v = settings.vision
    detector = create_detector(v.detector, score_threshold=v.detector_score_threshold,
                               max_side=v.detect_max_side, num_threads=v.intra_op_threads)
    embedder = create_embedder(v.embedder, flip=v.flip_tta, intra_op_threads=v.intra_op_threads)
    names = calibration_images(lfw_dir)
    fingerprint = (f"{detector.model_sha256}{embedder.model_sha256}{v.flip_tta}"
                   f"{v.align_method}{len(names)}")
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    cache = cache_dir / f"calibration-{key}.npz"
    if cache.is_file():
        emb = np.load(cache)["embeddings"]
        log.info("calibration: %d cached embeddings from %s", len(emb), cache)
    else:
        from rich.progress import track

        it = iter(track(range(len(names)), description="embedding calibration images"))

        def advance(_n: int) -> None:
            next(it, None)

        embedded = lfw.embed_images(lfw_dir, names, detector, embedder, progress=advance,
                                    align_method=v.align_method)
        emb = embedded.embeddings
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, embeddings=emb)
    fit = calibrate_thresholds([lfw.person_of(n) for n in names], emb)
    accept, reject = fit.accept, fit.reject
    log.info("calibration: %d genuine / %d impostor pairs; accept >= %.4f (TAR %.4f at FAR "
             "1e-4), reject < %.4f (TAR %.4f at FAR 1e-3)", accept.n_genuine, accept.n_impostor,
             accept.threshold, accept.tar, reject.threshold, reject.tar)
    return Calibration(fit.thresholds, fit.metrics,
                       tuple(sorted(calibration_identities(lfw_dir))))


def bootstrap(settings: Settings, *, force: bool = False) -> str:
    """Register the default models as ``champion`` unless one exists; returns its version."""
    registry = ports.model_registry(settings)
    if not force and "champion" in registry.aliases():
        version = registry.resolve("champion")
        log.info("bootstrap: champion already registered (version %s)", version)
        return version
    v = settings.vision
    cal = calibrate(settings, settings.data.lfw_dir, settings.stack.cache_dir / "calibration")
    files = {"detector": locate_model(v.detector).path, "embedder": locate_model(v.embedder).path}
    spec = {"input": {"detector": "BGR uint8, any size (downscaled to "
                                  f"{v.detect_max_side} px for detection)",
                      "embedder": "112x112 RGB 0-255 face aligned to the ArcFace template"},
            "embedding_dim": 128, "flip_tta": v.flip_tta, "align_method": v.align_method,
            "calibration": {"dataset": "LFW View 1", "split": CALIBRATION_SPLIT,
                            "identities": list(cal.identities)}}
    return registry.register(detector=v.detector, embedder=v.embedder, files=files,
                             thresholds=cal.thresholds, spec=spec,
                             experiment=settings.mlflow.experiment, alias="champion",
                             run_name="bootstrap", metrics=cal.metrics)
