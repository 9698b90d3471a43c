"""Presentation attacks and scenes without a face.

A plain replay (the enrollment photo sent unchanged) is a scenario kind, not a
transform: it needs no pixels changed.
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.base import (
    Kind,
    Moved,
    face_landmarks,
    register,
    to_float,
    to_uint8,
    warp_points,
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


@register("printed_photo", Kind.ATTACK)
def printed_photo(image: np.ndarray, rng: np.random.Generator,
                  landmarks: np.ndarray | None = None, *,
                  tilt: Annotated[float, Field(ge=0.0, le=0.2)] = 0.06,
                  moire: Annotated[float, Field(ge=0.0, le=0.3)] = 0.05,
                  glare: Fraction = 0.45,
                  blur: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0,
                  noise: Annotated[float, Field(ge=0.0, le=32.0)] = 3.0) -> Moved:
    """A photo printed on paper and held up to the camera (apply to the enrollment photo).

    Print: lifted blacks, dimmer whites, less saturation, warm paper. Re-capture:
    a halftone screen beating against the sensor grid (moire), a slight
    perspective tilt of up to ``tilt`` of the frame per corner, defocus, a glare
    blob from a ceiling light, a colour shift and sensor noise.
    """
    pts = face_landmarks(image, landmarks)
    h, w = image.shape[:2]
    x = to_float(image)
    lum = x.mean(axis=2, keepdims=True)
    x = lum + 0.8 * (x - lum)
    x = (0.08 + 0.82 * x) * np.array([0.95, 1.0, 1.03], dtype=np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0.0, np.pi)
    a = xs * np.cos(theta) + ys * np.sin(theta)
    b = -xs * np.sin(theta) + ys * np.cos(theta)
    # The printer's halftone screen: fine dots, mostly lost in the re-capture blur...
    dots = np.sin(2 * np.pi * 0.4 * a) * np.sin(2 * np.pi * 0.4 * b)
    x = x * (1.0 + 0.5 * moire * dots)[..., None]
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    dst = (src + rng.uniform(-tilt, tilt, size=(4, 2)) * [w, h]).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    x = cv2.warpPerspective(x, matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    if blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), blur)
    # ...but beating against the sensor grid as wavy low-frequency bands, colour-fringed.
    beat = rng.uniform(0.05, 0.12)
    wave = 2 * np.pi * beat * a + 2.0 * np.sin(2 * np.pi * 0.012 * b + rng.uniform(0, 6.3))
    phases = np.array([0.0, 0.6, 1.2], dtype=np.float32)
    x = x * (1.0 + moire * np.sin(wave[..., None] + phases))
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    rx, ry = rng.uniform(0.08, 0.22) * w, rng.uniform(0.06, 0.18) * h
    blob = np.exp(-(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2))
    x = x + glare * blob[..., None]
    x = x * (1.0 + rng.normal(0.0, 0.03, size=3)).astype(np.float32)
    if noise > 0:
        x = x + rng.normal(0.0, noise / 255.0, size=x.shape).astype(np.float32)
    return Moved(to_uint8(x), warp_points(pts, matrix))


@register("empty_scene", Kind.SCENE)
def empty_scene(image: np.ndarray, rng: np.random.Generator,
                landmarks: np.ndarray | None = None, *,
                objects: Annotated[int, Field(ge=0, le=10)] = 3,
                noise: Annotated[float, Field(ge=0.0, le=32.0)] = 4.0) -> np.ndarray:
    """Nobody in front of the camera: a wall in the frame's border colours, a few
    doors or notices, uneven light. The input only lends its colours and size.
    """
    h, w = image.shape[:2]
    border = np.concatenate([image[:4].reshape(-1, 3), image[-4:].reshape(-1, 3),
                             image[:, :4].reshape(-1, 3), image[:, -4:].reshape(-1, 3)])
    wall = np.median(border, axis=0).astype(np.float32) / 255.0
    wall = np.clip(wall + rng.normal(0.0, 0.05, size=3), 0.25, 0.9).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.8 + 0.3 * np.cos(rng.uniform(0, 2 * np.pi)) * (xs / w - 0.5) \
        + 0.3 * rng.uniform(-1, 1) * (ys / h - 0.5)
    x = wall * light[..., None]
    for _ in range(objects):
        x0, y0 = rng.uniform(-0.1, 0.8) * w, rng.uniform(-0.1, 0.8) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.4) * w, y0 + rng.uniform(0.15, 0.6) * h
        shade = rng.uniform(0.4, 1.3) * wall * light[..., None]
        region = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        x = np.where(region[..., None], np.clip(shade, 0, 1), x)
    x = cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.2)
    if noise > 0:
        x = x + rng.normal(0.0, noise / 255.0, size=x.shape).astype(np.float32)
    return to_uint8(x)
