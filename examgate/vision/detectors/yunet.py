"""YuNet (OpenCV Zoo, 2023mar) through ``cv2.FaceDetectorYN``: the default detector."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from examgate.vision.detectors.base import DETECTORS, Detector, fit_within
from examgate.vision.errors import ModelFileError
from examgate.vision.model_files import locate_model, sha256_file
from examgate.vision.types import Detection


@DETECTORS.register("yunet")
class YuNetDetector(Detector):
    """Anchor-free lightweight detector; returns boxes, five landmarks and scores.

    ``max_side`` bounds the detector's input: larger frames are downscaled for
    detection only and the results mapped back, which keeps a 12-megapixel
    enrollment photo as cheap as a camera frame. ``num_threads`` sets OpenCV's
    process-wide thread count when given.
    """

    name = "yunet"

    def __init__(self, model_path: str | Path | None = None, *, score_threshold: float = 0.5,
                 nms_threshold: float = 0.3, top_k: int = 50, max_side: int | None = 640,
                 num_threads: int | None = None) -> None:
        path = Path(model_path) if model_path else locate_model("yunet").path
        if not path.is_file():
            raise ModelFileError(f"YuNet model not found: {path}")
        self.model_path = path
        self.max_side = max_side
        if num_threads is not None:
            cv2.setNumThreads(num_threads)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(path), "", (320, 320), score_threshold, nms_threshold, top_k
            )
        except cv2.error as exc:
            raise ModelFileError(f"cannot load YuNet from {path}: {exc}") from exc
        # The OpenCV object keeps per-call state (input size); one caller at a time.
        self._lock = threading.Lock()

    @property
    def model_sha256(self) -> str:
        """Checksum of the ONNX file in use."""
        return sha256_file(self.model_path)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR image, best score first."""
        small, scale = fit_within(image, self.max_side)
        h, w = small.shape[:2]
        with self._lock:
            self._net.setInputSize((w, h))
            _, rows = self._net.detect(np.ascontiguousarray(small))
        if rows is None:
            return []
        return sorted((_row_to_detection(r, 1.0 / scale) for r in rows),
                      key=lambda d: d.score, reverse=True)


def _row_to_detection(row: np.ndarray, inv_scale: float) -> Detection:
    # Row: x, y, w, h, then (x, y) for right eye, left eye, nose, right and left
    # mouth corner of the subject, i.e. image-left first: the ArcFace order.
    x, y, w, h = (float(v) for v in row[:4])
    box = np.array([x, y, x + w, y + h], dtype=np.float64) * inv_scale
    landmarks = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2) * inv_scale
    return Detection.from_arrays(box, landmarks, float(np.clip(row[14], 0.0, 1.0)))
