"""Frozen records that flow through the face pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
"""ArcFace order; 'left' means the left side of the image (the subject's right)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected face: box (x1, y1, x2, y2) in pixels, five landmarks, confidence 0..1."""

    box: tuple[float, float, float, float]
    landmarks: tuple[Point, Point, Point, Point, Point]
    score: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        """Box area in square pixels (0 for a degenerate box)."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> Point:
        """Box centre (x, y)."""
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def landmarks_array(self) -> np.ndarray:
        """Landmarks as a (5, 2) float32 array."""
        return np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)

    @staticmethod
    def from_arrays(box: np.ndarray, landmarks: np.ndarray, score: float) -> Detection:
        """Build from a (4,) box and (5, 2) landmark array."""
        b = tuple(float(v) for v in np.asarray(box).reshape(4))
        pts = tuple((float(x), float(y)) for x, y in np.asarray(landmarks).reshape(5, 2))
        return Detection(box=b, landmarks=pts, score=float(score))  # type: ignore[arg-type]
