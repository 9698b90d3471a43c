"""Lighting: an under-lit hall, a window behind the student, blown exposure, odd white balance."""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.base import (
    FaceFrame,
    Kind,
    face_landmarks,
    register,
    to_float,
    to_uint8,
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Gain = Annotated[float, Field(ge=0.0, le=8.0)]
Noise = Annotated[float, Field(ge=0.0, le=64.0, description="sensor noise sigma, 0..255 levels")]

# Per-channel (B, G, R) gain directions of the common white-balance failures.
_CASTS: dict[str, tuple[float, float, float]] = {
    "warm": (-1.0, 0.0, 0.8),     # tungsten: red up, blue down
    "cool": (1.0, 0.0, -0.8),     # shade or cold LEDs
    "green": (-0.5, 1.0, -0.5),   # fluorescent tubes
    "magenta": (0.5, -1.0, 0.5),  # cheap LED panels
}


def _sensor_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Luminance noise shared by the channels plus weaker colour noise, in 0..1 units."""
    lum = rng.normal(0.0, sigma / 255.0, size=(*shape[:2], 1))
    chroma = rng.normal(0.0, 0.5 * sigma / 255.0, size=shape)
    return (lum + chroma).astype(np.float32)


@register("dim", Kind.LIGHTING)
def dim(image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None, *,
        brightness: Fraction = 0.45,
        gamma: Annotated[float, Field(gt=0.0, le=5.0)] = 1.3,
        noise: Noise = 6.0) -> np.ndarray:
    """Under-lit hall: darker, crushed shadows (gamma > 1), sensor noise."""
    x = to_float(image) ** gamma * brightness
    if noise > 0:
        x = x + _sensor_noise(image.shape, noise, rng)
    return to_uint8(x)


@register("backlight", Kind.LIGHTING)
def backlight(image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None,
              *, face_gain: Gain = 0.35, background_gain: Gain = 1.8,
              glow: Fraction = 0.35, haze: Fraction = 0.06, noise: Noise = 4.0) -> np.ndarray:
    """A bright window behind the student: the background blows out, the person goes dark.

    The person is a soft silhouette (head ellipse plus shoulders) placed from the
    landmarks; light comes from a random side so the background brightens as a
    gradient, and stray light (``haze``) lifts the dark face's blacks.
    """
    x = to_float(image)
    frame = FaceFrame.from_landmarks(face_landmarks(image, landmarks))
    u, v = frame.coords(image.shape)
    head = ((u / 1.3) ** 2 + ((v - 0.25) / 1.9) ** 2) <= 1.0
    shoulders = (v >= 1.9) & (np.abs(u) <= 1.2 + 1.6 * np.clip(v - 1.9, 0.0, 1.0))
    person = (head | shoulders).astype(np.float32)
    person = cv2.GaussianBlur(person, (0, 0), 0.3 * frame.scale)[..., None]
    angle = rng.uniform(0.0, 2.0 * np.pi)
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * (xs / w - 0.5) + np.sin(angle) * (ys / h - 0.5)) + 0.5
    ramp = np.clip(ramp, 0.0, 1.0)[..., None]
    background = x * (1.0 + (background_gain - 1.0) * (0.5 + 0.5 * ramp)) + glow * (0.3 + ramp)
    dark = x * face_gain + haze
    if noise > 0:
        dark = dark + _sensor_noise(image.shape, noise, rng)
    return to_uint8(person * dark + (1.0 - person) * background)


@register("overexpose", Kind.LIGHTING)
def overexpose(image: np.ndarray, rng: np.random.Generator,
               landmarks: np.ndarray | None = None, *,
               stops: Annotated[float, Field(ge=0.0, le=4.0)] = 1.3,
               lift: Fraction = 0.05,
               jitter: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1) -> np.ndarray:
    """Auto-exposure overshoot: ``stops`` f-stops too bright (+/- ``jitter``), highlights clip."""
    gain = 2.0 ** (stops * (1.0 + rng.uniform(-jitter, jitter)))
    return to_uint8(to_float(image) * gain + lift)


@register("color_cast", Kind.LIGHTING)
def color_cast(image: np.ndarray, rng: np.random.Generator,
               landmarks: np.ndarray | None = None, *,
               cast: Literal["random", "warm", "cool", "green", "magenta"] = "random",
               strength: Annotated[float, Field(ge=0.0, le=0.8)] = 0.2) -> np.ndarray:
    """Wrong white balance: per-channel gains towards a named (or random) cast."""
    name = str(rng.choice(sorted(_CASTS))) if cast == "random" else cast
    gains = 1.0 + strength * np.asarray(_CASTS[name], dtype=np.float32)
    gains = gains + rng.normal(0.0, 0.02 * strength, size=3).astype(np.float32)
    return to_uint8(to_float(image) * gains)
