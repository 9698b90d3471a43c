"""What a retrain run trains on: the config's faces, the proctors' feedback, altered copies.

Feedback labelled with a calibration or evaluation identity is left out (a
simulated exam's students are LFW people): training on them would leak.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from examgate.core.erasure import manifest_key
from examgate.core.ports import ObjectStore
from examgate.core.settings import Settings
from trainer.conditions import TRANSFORM_CONDITIONS, alter
from trainer.config import TrainConfig
from trainer.feedback import checked_key

if TYPE_CHECKING:
    from trainer.data import FaceSet  # torch: imported only when a set is built


def fetch_feedback(settings: Settings, feedback: bool | int, run_dir: Path
                   ) -> tuple[int | None, dict[str, Any] | None]:
    """Build (True) or fetch (a version) the feedback dataset, mirrored under ``run_dir``.

    Returns (version, manifest); (None, None) when ``feedback`` is False, and
    (None, manifest) when building found nothing new.
    """
    from examgate.adapters import factory

    if feedback is False:
        return None, None
    objects, bucket = factory.object_store(settings), settings.object_store.bucket_training
    if feedback is True:
        # The sink is the processors' slice; the loop only asks it for a new version.
        from trainer.feedback import build_feedback_dataset

        version, manifest = build_feedback_dataset(settings)
        if version is None:
            return None, manifest
    else:
        version = int(feedback)
        manifest = json.loads(objects.get(bucket, manifest_key(version)))
    write_samples(objects, bucket, manifest, run_dir / "feedback" / f"v{version}")
    return version, manifest


def write_samples(objects: ObjectStore, bucket: str, manifest: dict[str, Any],
                  folder: Path) -> None:
    """Copy a manifest's samples from the object store into ``folder``; a key that would
    land outside it (absolute, or with ``..``) is refused before anything is written."""
    keys = [checked_key(sample["key"]) for sample in manifest["samples"]]
    for key, sample in zip(keys, manifest["samples"], strict=True):
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(objects.get(bucket, sample["object_key"]))


def training_set(cfg: TrainConfig, manifest: dict[str, Any] | None, targets: Sequence[str],
                 augment_seed: int = 1234) -> tuple[FaceSet, dict[str, Any]]:
    """The config's training set, plus usable feedback samples, plus altered copies for targets.

    The feedback samples are read from ``cfg.run_dir/feedback/v<version>``,
    where :func:`fetch_feedback` mirrored them. The dict counts what went in.
    """
    from examgate.models.bootstrap import calibration_identities
    from trainer.crops import align_files
    from trainer.data import FaceSet, build_faceset
    from trainer.splits import evaluation_identities

    base = build_faceset(cfg)
    faces, labels, names = [base.faces], [base.labels], list(base.identities)
    info: dict[str, Any] = {"train.base_faces": len(base.labels)}
    samples = (manifest or {}).get("samples", [])
    if samples:
        held = calibration_identities(cfg.lfw_dir) | evaluation_identities(cfg.lfw_dir,
                                                                            cfg.eval_folds)
        usable = [s for s in samples if s["identity"] not in held]
        folder = cfg.run_dir / "feedback" / f"v{manifest['version']}"  # type: ignore[index]
        crops = align_files(folder, [s["key"] for s in usable], cache_dir=None,
                            fallback_landmarks=False)
        by_key = {s["key"]: s["identity"] for s in usable}
        index = {n: i for i, n in enumerate(names)}
        ids = [index.setdefault(by_key[k], len(index)) for k in crops.names]
        names = list(index)
        faces.append(crops.faces)
        labels.append(np.array(ids, np.int64))
        info.update({"train.feedback_samples": len(crops.names),
                     "train.feedback_held_out": len(samples) - len(usable),
                     "train.feedback_no_face": len(crops.rejected)})
    all_faces, all_labels = np.concatenate(faces), np.concatenate(labels)
    for i, name in enumerate(c for c in targets if c in TRANSFORM_CONDITIONS):
        altered = alter(all_faces, name, seed=augment_seed + 1000 * i)
        faces.append(altered)
        labels.append(all_labels)
        info[f"train.augmented_{name}"] = len(altered)
    source = base.source + ("+feedback" if samples else "") + "".join(
        f"+{t}" for t in targets if t in TRANSFORM_CONDITIONS)
    return FaceSet(np.concatenate(faces), np.concatenate(labels), tuple(names), source), info
