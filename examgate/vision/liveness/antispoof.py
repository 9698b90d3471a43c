"""Single-frame presentation-attack detector: two MiniFASNet classifiers on wide face crops.

Each model sees the face with a lot of context around it (the box scaled by 2.7
or 4.0 about its centre), because what gives a print or a screen away is often
outside the face: a paper edge, a phone bezel, fingers, the flat, low-contrast
look of a re-captured image. The two scores are averaged. The models were
trained by their vendor on its own cameras; on LFW news photos (real people,
but small, re-compressed JPEGs) they score a median of about 0.98 with a tail
below 0.5, so this is one signal of several, not the judge.

Files, crop scales and digests: ``../shared/models/antispoof/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from examgate.core.digest import sha256_file
from examgate.vision.errors import ModelFileError
from examgate.vision.types import Detection

INPUT_SIDE = 80
LIVE_CLASS = 1

ANTISPOOF_FILES: dict[str, tuple[str, float, str]] = {
    "antispoof_v2": (
        "MiniFASNetV2.onnx", 2.7,
        "4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e",
    ),
    "antispoof_v1se": (
        "MiniFASNetV1SE.onnx", 4.0,
        "d819a69bac6b9ade2a0f4d9b60b618e1260f7bf3ba1fddff6c5d82131cb1083f",
    ),
}
"""Role -> (file name, crop scale, SHA-256); the roles are the model registry's file roles."""


def crop_box(image_wh: tuple[int, int], box_xywh: tuple[float, float, float, float],
             scale: float) -> tuple[int, int, int, int]:
    """The context patch (x1, y1, x2, y2), inclusive, that a model with ``scale`` looks at.

    The face box is scaled about its centre; when the result would be wider or
    taller than the image the scale is reduced until it fits, and a patch that
    sticks out on one side is slid back inside rather than cut, so the model
    always sees a patch of the shape it was trained on.
    """
    img_w, img_h = image_wh
    x, y, w, h = box_xywh
    w, h = max(w, 1.0), max(h, 1.0)
    scale = min(scale, (img_h - 1) / h, (img_w - 1) / w)
    new_w, new_h = w * scale, h * scale
    cx, cy = x + w / 2.0, y + h / 2.0
    x1, y1 = cx - new_w / 2.0, cy - new_h / 2.0
    x2, y2 = cx + new_w / 2.0, cy + new_h / 2.0
    if x1 < 0:
        x2, x1 = x2 - x1, 0.0
    if y1 < 0:
        y2, y1 = y2 - y1, 0.0
    if x2 > img_w - 1:
        x1, x2 = x1 - (x2 - (img_w - 1)), float(img_w - 1)
    if y2 > img_h - 1:
        y1, y2 = y1 - (y2 - (img_h - 1)), float(img_h - 1)
    return int(max(x1, 0)), int(max(y1, 0)), int(x2), int(y2)


def model_input(image: np.ndarray, face: Detection, scale: float) -> np.ndarray:
    """The 1x3x80x80 float32 BGR tensor (0..255, not normalised) for one model."""
    x1, y1, x2, y2 = face.box
    h, w = image.shape[:2]
    cx1, cy1, cx2, cy2 = crop_box((w, h), (x1, y1, x2 - x1, y2 - y1), scale)
    patch = image[cy1:cy2 + 1, cx1:cx2 + 1]
    patch = cv2.resize(patch, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch.transpose(2, 0, 1)[None], dtype=np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64).reshape(-1)
    z = np.exp(z - z.max())
    return z / z.sum()


def verified_path(role: str, path: Path) -> Path:
    """``path`` when it is a readable file with the SHA-256 pinned for ``role``."""
    try:
        name, _, expected = ANTISPOOF_FILES[role]
    except KeyError:
        raise ModelFileError(f"unknown anti-spoofing model role {role!r}; known: "
                             f"{', '.join(ANTISPOOF_FILES)}") from None
    if not path.is_file():
        raise ModelFileError(f"anti-spoofing model {role!r} ({name}) not found at {path}")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelFileError(f"cannot read anti-spoofing model {role!r} at {path}: {exc}") from exc
    if actual != expected:
        raise ModelFileError(f"anti-spoofing model {role!r} at {path} has SHA-256 {actual}, "
                             f"expected {expected} ({name}): wrong or damaged file")
    return path


class AntiSpoof:
    """The MiniFASNet pair: live score = mean class-1 probability of the models."""

    def __init__(self, models: Mapping[str, tuple[ort.InferenceSession, float]]) -> None:
        if not models:
            raise ValueError("AntiSpoof needs at least one model")
        self._models = dict(models)
        self._inputs = {role: s.get_inputs()[0].name for role, (s, _) in self._models.items()}

    @classmethod
    def from_files(cls, files: Mapping[str, Path], threads: int = 1) -> AntiSpoof:
        """Load every role of :data:`ANTISPOOF_FILES` from ``files`` (role -> path),
        checking each file's SHA-256 first (:class:`ModelFileError` when one is wrong)."""
        missing = [role for role in ANTISPOOF_FILES if role not in files]
        if missing:
            raise ModelFileError(f"anti-spoofing model files missing for roles: {missing}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        models: dict[str, tuple[ort.InferenceSession, float]] = {}
        for role, (_, scale, _) in ANTISPOOF_FILES.items():
            path = verified_path(role, Path(files[role]))
            try:
                session = ort.InferenceSession(str(path), sess_options=options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelFileError(f"cannot load anti-spoofing model {role!r} from {path}: "
                                     f"{exc}") from exc
            models[role] = (session, scale)
        return cls(models)

    @classmethod
    def from_dir(cls, folder: Path, threads: int = 1) -> AntiSpoof:
        """Load the files named in :data:`ANTISPOOF_FILES` from one folder."""
        return cls.from_files({role: Path(folder) / meta[0]
                               for role, meta in ANTISPOOF_FILES.items()}, threads)

    def scores(self, image: np.ndarray, face: Detection) -> dict[str, float]:
        """Each model's live probability for ``face`` in the BGR ``image``, by role."""
        out: dict[str, float] = {}
        for role, (session, scale) in self._models.items():
            logits = session.run(None, {self._inputs[role]: model_input(image, face, scale)})[0]
            out[role] = float(_softmax(np.asarray(logits))[LIVE_CLASS])
        return out

    def score(self, image: np.ndarray, face: Detection) -> float:
        """Live score in [0, 1]: the mean of the models' class-1 probabilities."""
        values = self.scores(image, face)
        return float(np.clip(sum(values.values()) / len(values), 0.0, 1.0))
