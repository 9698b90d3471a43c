"""The detector port: an image in, faces with five landmarks out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from examgate.vision.registry import Registry
from examgate.vision.types import Detection

STAGE = "detect"

DETECTORS: Registry[Detector] = Registry("detector")


class Detector(ABC):
    """Finds faces in a BGR uint8 image; results are sorted by score, best first."""

    name: ClassVar[str]

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (H, W, 3 BGR uint8), in that image's pixel coordinates."""

    @property
    def model_sha256(self) -> str | None:
        """Checksum of the weights in use, for decisions and audit records."""
        return None


def fit_within(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Downscale ``image`` so its longer side is at most ``max_side``; return it and the scale."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if not max_side or longest <= max_side:
        return image, 1.0
    import cv2

    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
