"""Quality measures of a detected face and a verdict that names what to fix.

Every failing gate adds a stable reason string, so the proctor can tell the
student "come closer", "hold still", "look at the camera" or "more light".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from examgate.core.settings import QualitySettings
from examgate.vision.types import Detection

STAGE = "quality"

_MEASURE_SIDE = 112  # sharpness is measured at a fixed size so it does not grow with resolution
_DARK_LEVEL = 20
_CLIP_LEVEL = 245


class QualityReason(StrEnum):
    """Why a face is not good enough; values are part of the Decision contract."""

    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    POSE = "POSE"
    BLURRY = "BLURRY"
    TOO_DARK = "TOO_DARK"
    OVEREXPOSED = "OVEREXPOSED"


@dataclass(frozen=True, slots=True)
class QualityMeasures:
    """Raw measures of the main face; units in the field names."""

    face_px: float
    sharpness: float
    brightness: float
    dark_fraction: float
    clipped_fraction: float
    yaw_deg: float
    roll_deg: float
    confidence: float
    face_count: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain mapping for events and logs."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """Pass/fail, every failed gate in a fixed order, and the measures behind it."""

    reasons: tuple[QualityReason, ...]
    measures: QualityMeasures | None
    face: Detection | None

    @property
    def ok(self) -> bool:
        """True when every gate passed."""
        return not self.reasons

    @property
    def reason(self) -> QualityReason | None:
        """The most important failed gate, or None."""
        return self.reasons[0] if self.reasons else None


def select_primary(detections: list[Detection]) -> Detection | None:
    """The face the check-in is about: the largest one (the student stands closest)."""
    return max(detections, key=lambda d: d.area, default=None)


def count_faces(detections: list[Detection], primary: Detection,
                settings: QualitySettings) -> int:
    """Confident faces at least ``secondary_face_ratio`` of the main face's width."""
    return sum(
        1 for d in detections
        if d is primary or (d.score >= settings.min_confidence
                            and d.width >= settings.secondary_face_ratio * primary.width)
    )


def face_crop(image: np.ndarray, face: Detection) -> np.ndarray:
    """The face box clipped to the image (possibly empty)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
    x2, y2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
    return image[y1:max(y1, y2), x1:max(x1, x2)]


def pose_from_landmarks(landmarks: np.ndarray) -> tuple[float, float]:
    """Approximate (yaw, roll) in degrees from five landmarks; 0, 0 is frontal and upright.

    Roll is the tilt of the eye line. Yaw comes from how far the nose sits off
    the eye-mouth midline, relative to half the eye distance, after undoing
    roll: ``atan`` of that ratio is a rough angle, enough for a gate.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = pts
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    upright = pts @ np.array([[c, s], [-s, c]])
    half_eye = max(np.linalg.norm([dx, dy]) / 2.0, 1e-6)
    midline_x = (upright[0, 0] + upright[1, 0] + upright[3, 0] + upright[4, 0]) / 4.0
    yaw = math.degrees(math.atan((upright[2, 0] - midline_x) / half_eye))
    return yaw, roll


def measure_quality(image: np.ndarray, face: Detection, face_count: int) -> QualityMeasures:
    """All measures of ``face`` in the BGR ``image``."""
    crop = face_crop(image, face)
    if crop.size == 0:
        sharp = bright = 0.0
        dark = clipped = 1.0
    else:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(gray, (_MEASURE_SIDE, _MEASURE_SIDE), interpolation=cv2.INTER_AREA)
        sharp = float(cv2.Laplacian(small, cv2.CV_64F).var())
        bright = float(gray.mean())
        dark = float(np.count_nonzero(gray <= _DARK_LEVEL)) / gray.size
        clipped = float(np.count_nonzero(gray >= _CLIP_LEVEL)) / gray.size
    yaw, roll = pose_from_landmarks(face.landmarks_array())
    return QualityMeasures(
        face_px=float(min(face.width, face.height)), sharpness=sharp, brightness=bright,
        dark_fraction=dark, clipped_fraction=clipped, yaw_deg=yaw, roll_deg=roll,
        confidence=face.score, face_count=face_count,
    )


def judge(measures: QualityMeasures, settings: QualitySettings) -> tuple[QualityReason, ...]:
    """The gates that ``measures`` fail, most actionable first."""
    s = settings
    checks = (
        (QualityReason.MULTIPLE_FACES, measures.face_count > 1),
        (QualityReason.FACE_TOO_SMALL, measures.face_px < s.min_face_px),
        (QualityReason.LOW_CONFIDENCE, measures.confidence < s.min_confidence),
        (QualityReason.POSE, abs(measures.yaw_deg) > s.max_abs_yaw_deg
         or abs(measures.roll_deg) > s.max_abs_roll_deg),
        (QualityReason.BLURRY, measures.sharpness < s.min_sharpness),
        (QualityReason.TOO_DARK, measures.brightness < s.min_brightness
         or measures.dark_fraction > s.max_dark_fraction),
        (QualityReason.OVEREXPOSED, measures.brightness > s.max_brightness
         or measures.clipped_fraction > s.max_clipped_fraction),
    )
    return tuple(reason for reason, failed in checks if failed)


def assess_quality(image: np.ndarray, detections: list[Detection],
                   settings: QualitySettings) -> QualityVerdict:
    """Pick the main face of ``detections`` and judge it; NO_FACE when there is none."""
    primary = select_primary(detections)
    if primary is None:
        return QualityVerdict(reasons=(QualityReason.NO_FACE,), measures=None, face=None)
    measures = measure_quality(image, primary, count_faces(detections, primary, settings))
    return QualityVerdict(reasons=judge(measures, settings), measures=measures, face=primary)
