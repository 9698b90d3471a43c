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
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from examgate.adapters import factory as ports
from examgate.adapters.registry import ModelBundle, ModelRegistry, files_spec
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.models import lfw
from examgate.models.calibration import calibrate_thresholds
from examgate.vision.detectors import detector_files, detector_from_settings
from examgate.vision.model_files import locate_model

log = logging.getLogger("examgate.bootstrap")
CALIBRATION_SPLIT = "pairsDevTrain.txt"
# One maker of the calibration cache at a time within a process (the CLI warms it up in a
# thread while the stack starts, and bootstrap may ask for it meanwhile).
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Calibration:
    """Thresholds and how they were found."""

    thresholds: Thresholds
    metrics: dict[str, float]
    identities: tuple[str, ...]
    rule: dict[str, object]  # how the accept threshold was chosen (per-slice points)


def calibration_identities(lfw_dir: Path) -> set[str]:
    """Every identity in the calibration split: never to be used for evaluation."""
    pairs = lfw.read_pairs(lfw_dir / CALIBRATION_SPLIT)
    return {lfw.person_of(n) for p in pairs for n in (p.a, p.b)}


def calibration_images(lfw_dir: Path) -> list[str]:
    """Every image of the calibration split, sorted (``person/person_0001.jpg``)."""
    return sorted({n for p in lfw.read_pairs(lfw_dir / CALIBRATION_SPLIT) for n in (p.a, p.b)})


def calibration_cache(settings: Settings, names: list[str]) -> Path:
    """Where the calibration embeddings of the configured models are cached."""
    from examgate.vision.model_files import sha256_file

    v = settings.vision
    detector = "".join(f"{role}:{sha256_file(path)}"
                       for role, path in sorted(detector_files(v).items()))
    fingerprint = (f"{v.detector}{detector}"
                   f"{sha256_file(locate_model(v.embedder).path)}{v.flip_tta}"
                   f"{v.align_method}{len(names)}{'mirrored' if v.mirror_templates else ''}")
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    return settings.stack.cache_dir / "calibration" / f"calibration-{key}.npz"


def _embed_in_parallel(settings: Settings, lfw_dir: Path, names: list[str]
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Embed ``names`` on every core (one single-threaded pipeline per core; ONNX Runtime
    releases the GIL), in the order given: as gates embed them, and as enrollment embeds
    templates where that differs (mirrored templates; else None). Each image's embedding
    does not depend on which worker made it."""
    from rich.progress import Progress

    from examgate.vision import create_embedder

    v = settings.vision
    workers = max(1, min(4, os.cpu_count() or 1))
    parts = [names[i::workers] for i in range(workers)]
    lock = threading.Lock()
    with Progress() as bar:
        task = bar.add_task("embedding calibration images", total=len(names))

        def advance(n: int) -> None:
            with lock:
                bar.advance(task, n)

        def embed(part: list[str]) -> lfw.EmbeddedSet:
            detector = detector_from_settings(v, num_threads=1)
            embedder = create_embedder(v.embedder, flip=v.flip_tta, intra_op_threads=1)
            return lfw.embed_images(lfw_dir, part, detector, embedder, progress=advance,
                                    align_method=v.align_method, mirror=v.mirror_templates)

        with ThreadPoolExecutor(workers, thread_name_prefix="calibration") as pool:
            done = list(pool.map(embed, parts))
    dim = done[0].embeddings.shape[1]
    emb = np.zeros((len(names), dim), np.float32)
    templates = np.zeros((len(names), dim), np.float32) if v.mirror_templates else None
    for i, part in enumerate(done):
        emb[i::workers] = part.embeddings
        if templates is not None:
            templates[i::workers] = part.templates
    return emb, templates


def calibration_embeddings(settings: Settings
                           ) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """The calibration images, their embeddings and, with mirrored templates, their
    templates: from the cache, or made (minutes) and cached. Needs no running service,
    so it can overlap the local stack's start."""
    lfw_dir = settings.data.lfw_dir
    names = calibration_images(lfw_dir)
    cache = calibration_cache(settings, names)
    with _CACHE_LOCK:
        if cache.is_file():
            stored = np.load(cache)
            emb = stored["embeddings"]
            templates = stored["templates"] if "templates" in stored.files else None
            log.info("calibration: %d cached embeddings from %s", len(emb), cache)
            return names, emb, templates
        emb, templates = _embed_in_parallel(settings, lfw_dir, names)
        cache.parent.mkdir(parents=True, exist_ok=True)
        if templates is None:
            np.savez(cache, embeddings=emb)
        else:
            np.savez(cache, embeddings=emb, templates=templates)
    return names, emb, templates


def calibrate(settings: Settings) -> Calibration:
    """Pick the thresholds from every pair of the calibration images."""
    lfw_dir = settings.data.lfw_dir
    names, emb, templates = calibration_embeddings(settings)
    genders = lfw.read_genders(lfw_dir)
    # Template against probe, as the gate will score them (mirrored templates: not symmetric).
    fit = calibrate_thresholds([lfw.person_of(n) for n in names], emb,
                               slices=[genders.get(n, "") for n in names],
                               templates=templates)
    accept, reject = fit.accept, fit.reject
    for name, point in fit.slices.items():
        log.info("calibration: %s pairs alone would accept >= %.4f; at the served threshold "
                 "their FAR is %.2e", name, point.threshold, point.far_at_served)
    log.info("calibration: %d genuine / %d impostor pairs; accept >= %.4f (TAR %.4f at FAR "
             "1e-4), reject < %.4f (TAR %.4f at FAR 1e-3)", accept.n_genuine, accept.n_impostor,
             accept.threshold, accept.tar, reject.threshold, reject.tar)
    if fit.thresholds.cohort_tail is not None:
        log.info("calibration: 1%% of the pairs of its people (one template each) score above "
                 "%.4f; a cohort of students above that raises the accept threshold as much",
                 fit.thresholds.cohort_tail)
    return Calibration(fit.thresholds, fit.metrics,
                       tuple(sorted(calibration_identities(lfw_dir))), fit.spec())


def liveness_spec(settings: Settings) -> tuple[dict[str, Path], dict[str, object]]:
    """The liveness model files (role -> path, hashes checked) and their calibrated spec."""
    from examgate.models.liveness_calibration import calibrate_liveness, liveness_files
    from examgate.vision.liveness import LivenessChecker

    files = liveness_files(settings)
    LivenessChecker.from_files(files, settings.vision.liveness)  # refuses a wrong hash now
    cal = calibrate_liveness(settings, calibration_images(settings.data.lfw_dir))
    return files, cal.spec()


def add_liveness(settings: Settings, registry: ModelRegistry, version: str) -> str:
    """A new version of ``version`` that also names the liveness models, as ``champion``.

    A version registered before liveness existed never ACCEPTs (its check-ins go to
    REVIEW); this upgrades it in place of a full re-calibration: same detector,
    embedder and match thresholds.
    """
    bundle = registry.load(version)
    files, spec = liveness_spec(settings)
    base = {k: v for k, v in bundle.spec.items()
            if k not in ("detector", "embedder", "files", "thresholds")}
    new = registry.register(detector=bundle.detector, embedder=bundle.embedder,
                            files={**bundle.files, **files}, thresholds=bundle.thresholds,
                            spec={**base, "liveness": spec, "upgraded_from": version},
                            experiment=settings.mlflow.experiment, alias="champion",
                            run_name="add-liveness")
    log.info("bootstrap: version %s = version %s + liveness models, now champion", new, version)
    return new


def bootstrap(settings: Settings, *, force: bool = False) -> str:
    """Register the default models as ``champion`` unless one exists; returns its version.

    A champion registered without liveness models is upgraded (see :func:`add_liveness`).
    """
    registry = ports.model_registry(settings)
    if not force and "champion" in registry.aliases():
        version = registry.resolve("champion")
        if "liveness" not in registry.load(version).spec:
            return add_liveness(settings, registry, version)
        log.info("bootstrap: champion already registered (version %s)", version)
        return version
    new = default_version(settings)
    return registry.register(detector=new.detector, embedder=new.embedder, files=new.files,
                             thresholds=new.thresholds, spec=new.spec,
                             experiment=settings.mlflow.experiment, alias="champion",
                             run_name="bootstrap", metrics=new.metrics)


@dataclass(frozen=True)
class DefaultVersion:
    """What ``bootstrap`` registers: the configured models, calibrated."""

    detector: str
    embedder: str
    files: dict[str, Path]
    thresholds: Thresholds
    spec: dict[str, Any]
    metrics: dict[str, float]


def default_version(settings: Settings) -> DefaultVersion:
    """The configured detector, embedder and liveness models with their calibrated thresholds
    (cached calibration embeddings make this seconds after the first time)."""
    v = settings.vision
    cal = calibrate(settings)
    live_files, live_spec = liveness_spec(settings)
    files = {**detector_files(v), "embedder": locate_model(v.embedder).path, **live_files}
    spec = {"input": {"detector": "BGR uint8, any size (downscaled to "
                                  f"{v.detect_max_side} px for detection)",
                      "embedder": "112x112 RGB 0-255 face aligned to the ArcFace template"},
            "embedding_dim": 128, "flip_tta": v.flip_tta, "align_method": v.align_method,
            "mirror_templates": v.mirror_templates,
            "calibration": {"dataset": "LFW View 1", "split": CALIBRATION_SPLIT,
                            "identities": list(cal.identities), "accept": cal.rule},
            "liveness": live_spec}
    return DefaultVersion(v.detector, v.embedder, files, cal.thresholds, spec, cal.metrics)


def local_bundle(settings: Settings) -> ModelBundle:
    """The default version as a bundle, unregistered (``examgate evaluate`` without a stack):
    its files straight from where they are installed, their hashes in the spec as the
    registry would record them."""
    version = default_version(settings)
    spec = {**version.spec, "detector": version.detector, "embedder": version.embedder,
            "files": files_spec(version.files)}
    return ModelBundle("local", "local", version.detector, version.embedder, version.files,
                       version.thresholds, spec)
