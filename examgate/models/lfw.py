"""Labeled Faces in the Wild: protocol files, identities, gender labels, and the one-pass
embedding of every image a protocol uses.

LFW is read from disk here; the face pipeline itself only sees bytes and arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from examgate.vision.align import align_face
from examgate.vision.decode import decode_image
from examgate.vision.detectors import Detector
from examgate.vision.embedders import Embedder
from examgate.vision.types import Detection

LFW_URL = "https://vis-www.cs.umass.edu/lfw/"


class LfwMissingError(FileNotFoundError):
    """The LFW folder or one of its protocol files is absent."""


@dataclass(frozen=True, slots=True)
class Pair:
    """Two image files and whether they show the same person."""

    a: str
    b: str
    same: bool
    fold: int


def image_name(person: str, number: int | str) -> str:
    """Relative path of LFW image ``number`` of ``person``."""
    return f"{person}/{person}_{int(number):04d}.jpg"


def require_lfw(lfw_dir: Path, pairs_file: str = "pairs.txt") -> None:
    """Raise :class:`LfwMissingError` with download instructions if LFW is not there."""
    needed = [lfw_dir / "images", lfw_dir / pairs_file]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise LfwMissingError(
            f"LFW not found ({', '.join(missing)}). Get the deep-funneled images "
            f"(lfw-deepfunneled.tgz) and pairs.txt / pairsDevTrain.txt / pairsDevTest.txt "
            f"from the official UMass site {LFW_URL}, unpack the images as "
            f"<lfw_dir>/images/<Name>/<Name>_NNNN.jpg, and point EXAMGATE_DATA__LFW_DIR or "
            f"--lfw-dir at it. There is no automatic download (the build machines are "
            f"offline); fetch it by hand once."
        )


def read_pairs(path: Path) -> list[Pair]:
    """Parse View 2 ``pairs.txt`` (header ``folds<TAB>n``) or a View 1 file (no header)."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    folds, per_fold = 1, None
    if len(lines[0]) == 2 and all(t.isdigit() for t in lines[0]):
        folds, per_fold = int(lines[0][0]), int(lines[0][1])
        lines = lines[1:]
    elif len(lines[0]) == 1 and lines[0][0].isdigit():  # View 1: "1100" before each half
        per_fold = int(lines[0][0])
        lines = [ln for ln in lines if len(ln) > 1]
    pairs = []
    for i, tok in enumerate(lines):
        fold = i // (2 * per_fold) if per_fold else 0
        if len(tok) == 3:
            pairs.append(Pair(image_name(tok[0], tok[1]), image_name(tok[0], tok[2]), True, fold))
        elif len(tok) == 4:
            pairs.append(Pair(image_name(tok[0], tok[1]), image_name(tok[2], tok[3]), False, fold))
        else:
            raise ValueError(f"{path}: unreadable line {i + 1}: {' '.join(tok)}")
    if per_fold and len(pairs) != folds * 2 * per_fold:
        raise ValueError(f"{path}: expected {folds * 2 * per_fold} pairs, read {len(pairs)}")
    return pairs


def read_genders(lfw_dir: Path) -> dict[str, str]:
    """``image path -> "male" | "female"``; files in both lists or neither are left out."""
    labels: dict[str, set[str]] = {}
    for gender in ("male", "female"):
        path = lfw_dir / "labels" / f"{gender}_names.txt"
        if not path.is_file():
            return {}
        for line in path.read_text().split():
            person = line.rsplit("_", 1)[0]
            labels.setdefault(f"{person}/{line}", set()).add(gender)
    return {name: next(iter(g)) for name, g in labels.items() if len(g) == 1}


def people(lfw_dir: str | Path) -> dict[str, list[str]]:
    """Person name -> sorted absolute image paths under ``lfw_dir/images``."""
    root = Path(lfw_dir) / "images"
    if not root.is_dir():
        raise LfwMissingError(f"no LFW images folder at {root}")
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(str(f) for f in folder.glob("*.jpg"))
        if images:
            out[folder.name] = images
    return out


def names_in_pairs(path: str | Path) -> set[str]:
    """Every identity named in an LFW pairs file (``pairs.txt``, ``pairsDevTrain.txt``...)."""
    return {person_of(n) for p in read_pairs(Path(path)) for n in (p.a, p.b)}


def person_of(name: str) -> str:
    """Identity of an image path."""
    return name.split("/", 1)[0]


def central_face(detections: list[Detection], shape: tuple[int, ...]) -> Detection | None:
    """The detection nearest the image centre: LFW's protocol is about the centred face."""
    cy, cx = shape[0] / 2.0, shape[1] / 2.0
    return min(detections, key=lambda d: (d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2,
               default=None)


@dataclass
class EmbeddedSet:
    """Embeddings of a list of images, with what happened to each."""

    names: list[str]
    embeddings: np.ndarray
    no_face: list[str] = field(default_factory=list)
    ms_detect_align_embed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ms_by_stage: dict[str, list[float]] = field(default_factory=dict)
    # Each image embedded as enrollment embeds a template (mirror-averaged), when asked.
    templates: np.ndarray | None = None


def embed_images(lfw_dir: Path, names: Iterable[str], detector: Detector, embedder: Embedder,
                 progress: Callable[[int], None] | None = None,
                 align_method: str = "lsq", mirror: bool = False) -> EmbeddedSet:
    """Embed each image once, one at a time, timing detect+align+embed; with ``mirror``
    also as a template (:meth:`Embedder.embed_with_mirror`, untimed: enrollment's cost).

    An image without a detected face is aligned with the median landmarks of
    the faces found in this run (LFW's faces are centred and similarly sized),
    and listed in ``no_face``.
    """
    names = list(names)
    aligned = np.zeros((len(names), embedder.input_size, embedder.input_size, 3), np.uint8)
    emb = np.zeros((len(names), embedder.dim), np.float32)
    found_landmarks, missing, totals = [], [], []
    stages: dict[str, list[float]] = {"detect": [], "align": [], "embed": []}
    for i, name in enumerate(names):
        image = decode_image((lfw_dir / "images" / name).read_bytes())
        t0 = time.perf_counter()
        face = central_face(detector.detect(image), image.shape)
        t1 = time.perf_counter()
        if face is None:
            missing.append((i, image))
        else:
            found_landmarks.append(face.landmarks_array())
            aligned[i] = align_face(image, face, embedder.input_size, align_method)
            t2 = time.perf_counter()
            emb[i] = embedder.embed(aligned[i][None])[0]
            t3 = time.perf_counter()
            for stage, ms in zip(stages, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                stages[stage].append(ms * 1000.0)
            totals.append((t3 - t0) * 1000.0)
        if progress:
            progress(1)
    if missing:
        fallback = np.median(np.stack(found_landmarks), axis=0) if found_landmarks else None
        for i, image in missing:
            pts = fallback if fallback is not None else _centre_landmarks(image.shape)
            aligned[i] = align_face(image, pts, embedder.input_size, align_method)
        idx = [i for i, _ in missing]
        emb[idx] = embedder.embed(aligned[idx])
    templates = embedder.embed_with_mirror(aligned, emb) if mirror else None
    return EmbeddedSet(names, emb, [names[i] for i, _ in missing], np.asarray(totals), stages,
                       templates)


def _centre_landmarks(shape: tuple[int, ...]) -> np.ndarray:
    from examgate.vision.align import ARCFACE_TEMPLATE_112

    side = min(shape[:2]) / 2.0
    offset = np.array([(shape[1] - side) / 2.0, (shape[0] - side) / 2.0])
    return ARCFACE_TEMPLATE_112 * (side / 112.0) + offset
