"""Detect and align faces once, through ``examgate.vision``; keep the crops in an .npz cache.

A cache file is named by a hash of the image list, the detector's weights and
the alignment method, so a change of any of them makes a new file rather than
a stale hit. Crops are (N, 112, 112, 3) BGR uint8, the face pipeline's layout.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from examgate.vision.detectors import Detector

log = logging.getLogger("trainer.crops")
STAGE = "align_crops"
SIZE = 112


@dataclass(frozen=True)
class Crops:
    """Aligned faces of some images; ``rejected`` maps an image to why it has no crop."""

    names: tuple[str, ...]
    faces: np.ndarray
    rejected: dict[str, str] = field(default_factory=dict)


def align_files(root: Path, names: Sequence[str], *, detector_name: str = "yunet",
                cache_dir: Path | None = None, fallback_landmarks: bool = True,
                tag: str = "crops") -> Crops:
    """Aligned crops of ``root/name`` for each name, from the cache when it has them.

    The face nearest the image centre is kept. With ``fallback_landmarks`` an
    image where no face is found is aligned with the median landmarks of the
    others (right for LFW's centred faces); otherwise it is rejected as NO_FACE.
    """
    from examgate.vision import create_detector

    detector = create_detector(detector_name)
    key = _cache_key(names, detector.model_sha256, fallback_landmarks)
    path = Path(cache_dir) / f"{tag}-{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            crops = Crops(tuple(str(n) for n in data["names"]), data["faces"],
                          json.loads(str(data["rejected"])))
        log.info("%s: %d crops from %s", STAGE, len(crops.names), path)
        return crops
    crops = _align(root, names, detector, fallback_landmarks)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, names=np.array(crops.names), faces=crops.faces,
                 rejected=np.array(json.dumps(crops.rejected)))
        tmp.replace(path)
        log.info("%s: cached %d crops at %s", STAGE, len(crops.names), path)
    return crops


def _align(root: Path, names: Sequence[str], detector: Detector,
           fallback_landmarks: bool) -> Crops:
    from examgate.models.lfw import central_face
    from examgate.vision import VisionError, align_face, decode_image

    faces: dict[str, np.ndarray] = {}
    rejected: dict[str, str] = {}
    no_face: list[tuple[str, np.ndarray]] = []
    landmarks: list[np.ndarray] = []
    for i, name in enumerate(names):
        try:
            image = decode_image((Path(root) / name).read_bytes())
        except FileNotFoundError:
            rejected[name] = "MISSING"
            continue
        except VisionError as exc:
            rejected[name] = exc.reason
            continue
        face = central_face(detector.detect(image), image.shape)
        if face is None:
            no_face.append((name, image))
        else:
            landmarks.append(face.landmarks_array())
            faces[name] = align_face(image, face, SIZE)
        if (i + 1) % 500 == 0:
            log.info("%s: %d/%d images", STAGE, i + 1, len(names))
    for name, image in no_face:
        if fallback_landmarks and landmarks:
            faces[name] = align_face(image, np.median(np.stack(landmarks), axis=0), SIZE)
        else:
            rejected[name] = "NO_FACE"
    kept = tuple(n for n in names if n in faces)
    stack = np.stack([faces[n] for n in kept]) if kept else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    if rejected:
        log.warning("%s: %d of %d images rejected: %s", STAGE, len(rejected), len(names),
                    _reason_counts(rejected))
    return Crops(kept, stack, rejected)


def _cache_key(names: Sequence[str], detector_sha: str | None, fallback: bool) -> str:
    digest = hashlib.sha256(f"{detector_sha}|{SIZE}|lsq|{fallback}|".encode())
    for name in names:
        digest.update(name.encode() + b"\n")
    return digest.hexdigest()[:16]


def _reason_counts(rejected: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in rejected.values():
        counts[reason] = counts.get(reason, 0) + 1
    return counts
