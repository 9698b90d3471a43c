"""Boxes and masks around the face, shared by the liveness cues."""

from __future__ import annotations

import cv2
import numpy as np

from examgate.vision.types import Detection

Box = tuple[float, float, float, float]


def scaled_box(box: Box, factor: float) -> Box:
    """``box`` (x1, y1, x2, y2) scaled by ``factor`` about its centre."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    hw, hh = (x2 - x1) * factor / 2.0, (y2 - y1) * factor / 2.0
    return cx - hw, cy - hh, cx + hw, cy + hh


def clip_box(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Integer (x1, y1, x2, y2), exclusive end, inside an image of ``shape``."""
    h, w = shape[:2]
    x1, y1, x2, y2 = box
    ix1, iy1 = int(np.clip(np.floor(x1), 0, w)), int(np.clip(np.floor(y1), 0, h))
    ix2, iy2 = int(np.clip(np.ceil(x2), 0, w)), int(np.clip(np.ceil(y2), 0, h))
    return ix1, iy1, ix2, iy2


def face_side(face: Detection) -> float:
    """The face box's width, at least one pixel (the unit the cues are normalised to)."""
    return max(face.width, 1.0)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Grey uint8 from a BGR or grey image."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def resize_by(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resized by ``scale``: Gaussian halvings while it shrinks by more than 2
    (no aliasing), then linear. Area averaging would be cleaner and is 8x slower."""
    while scale < 0.5 and min(image.shape[:2]) >= 2:
        image, scale = cv2.pyrDown(image), scale * 2.0
    if abs(scale - 1.0) < 1e-3:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def ellipse_mask(shape: tuple[int, int], box: Box, factor: float = 1.0) -> np.ndarray:
    """uint8 mask (255 inside) of the ellipse inscribed in ``box`` scaled by ``factor``."""
    mask = np.zeros(shape, dtype=np.uint8)
    x1, y1, x2, y2 = scaled_box(box, factor)
    centre = (round((x1 + x2) / 2.0), round((y1 + y2) / 2.0))
    axes = (max(1, round((x2 - x1) / 2.0)), max(1, round((y2 - y1) / 2.0)))
    cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 255, thickness=-1)
    return mask


def shift_box(box: Box, dx: float, dy: float, scale: float = 1.0) -> Box:
    """``box`` moved by (-dx, -dy) and then scaled by ``scale`` (into a crop's coordinates)."""
    x1, y1, x2, y2 = box
    return (x1 - dx) * scale, (y1 - dy) * scale, (x2 - dx) * scale, (y2 - dy) * scale
