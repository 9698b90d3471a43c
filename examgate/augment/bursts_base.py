"""The burst-instrument registry: what a gate camera records of a live student or an attack.

An instrument is a function ``fn(shot, *, <typed params>) -> list[frames]``. Like the
single-frame transforms in :mod:`examgate.augment.base`, its keyword-only parameters
(annotations and defaults) are its parameter model, so a scenario file is validated
when it loads. Every instrument also takes the camera parameters of
:class:`CameraParams` (frame size, lens, how large the face appears, sensor noise),
which :func:`render_burst` turns into the :class:`Shot` the instrument draws into.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from examgate.augment.base import (
    UnknownNameError,
    ValidatesParams,
    face_landmarks,
    params_model,
    summary_of,
)
from examgate.augment.bursts_scene import fill_borders, fit_background, gate_scene

Instrument = Callable[..., list[np.ndarray]]


class CameraParams(BaseModel):
    """The gate camera and where the face lands in its frame; shared by every instrument."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: Annotated[int, Field(ge=64, le=4096, description="frame width, px")] = 640
    height: Annotated[int, Field(ge=64, le=4096, description="frame height, px")] = 480
    hfov_deg: Annotated[float, Field(ge=20.0, le=120.0,
                                     description="horizontal field of view")] = 60.0
    face_px: Annotated[float, Field(ge=30.0, le=600.0, description=(
        "face width in the primary frame (2.3 x the eye distance); 140 px is a "
        "15 cm face 60 cm from a 60-degree 640 px camera"))] = 140.0
    face_x: Annotated[float, Field(ge=0.1, le=0.9, description="face centre, x / width")] = 0.5
    face_y: Annotated[float, Field(ge=0.1, le=0.9, description="face centre, y / height")] = 0.45
    placement: Annotated[float, Field(ge=0.0, le=0.2, description=(
        "random offset of the face centre, fraction of the frame"))] = 0.04
    noise: Annotated[float, Field(ge=0.0, le=20.0,
                                  description="sensor noise, std in 8-bit levels")] = 2.0
    flicker: Annotated[float, Field(ge=0.0, le=0.1,
                                    description="exposure gain std between frames")] = 0.01
    interval_ms: Annotated[float, Field(ge=10.0, le=1000.0,
                                        description="time between burst frames")] = 125.0


@dataclass(frozen=True)
class Camera:
    """A pinhole gate camera with the settings of one burst."""

    params: CameraParams

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.params.width, self.params.height

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return self.params.width / 2.0 / math.tan(math.radians(self.params.hfov_deg) / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """The 3 x 3 intrinsic matrix."""
        w, h = self.size
        return np.array([[self.focal, 0, w / 2.0], [0, self.focal, h / 2.0], [0, 0, 1]])


@dataclass(frozen=True)
class Shot:
    """What an instrument draws with: the photo, the camera, the still scene, the generator."""

    photo: np.ndarray          # the LFW-style source photo, BGR uint8
    landmarks: np.ndarray      # its five landmarks, (5, 2) float32 pixels
    camera: Camera
    scene: np.ndarray          # the still background, (height, width, 3) uint8
    face_at: np.ndarray        # where the face centre lands in the primary frame, (2,) px
    frames: int
    rng: np.random.Generator

    @property
    def eye_distance(self) -> float:
        """Eye distance in the photo, pixels."""
        return float(np.hypot(*(self.landmarks[1] - self.landmarks[0])))

    @property
    def face_scale(self) -> float:
        """Photo pixels -> frame pixels for a face ``face_px`` wide."""
        return self.camera.params.face_px / (2.3 * max(self.eye_distance, 1.0))


@dataclass(frozen=True)
class BurstSpec(ValidatesParams):
    """A registered instrument: name, attack family, function and parameter model."""

    what: typing.ClassVar[str] = "burst instrument"
    name: str
    family: str
    fn: Instrument
    params_model: type[BaseModel]
    summary: str


BURSTS: dict[str, BurstSpec] = {}
# ISO/IEC 30107-3 attack-type family of each instrument, for reporting.
ATTACK_FAMILY: dict[str, str] = {}


class UnknownBurstError(UnknownNameError):
    """No burst instrument is registered under the requested name."""


def register_burst(name: str, family: str) -> Callable[[Instrument], Instrument]:
    """Decorator: register an instrument under ``name`` in attack-type ``family``."""

    def add(fn: Instrument) -> Instrument:
        if name in BURSTS:
            raise ValueError(f"burst instrument {name!r} is already registered")
        model = params_model("instrument", name, fn, base=CameraParams, suffix="BurstParams")
        BURSTS[name] = BurstSpec(name, family, fn, model, summary_of(fn))
        ATTACK_FAMILY[name] = family
        return fn

    return add


def get_burst(name: str) -> BurstSpec:
    """The instrument registered as ``name``."""
    try:
        return BURSTS[name]
    except KeyError:
        raise UnknownBurstError(
            f"unknown burst instrument {name!r}; known: {', '.join(burst_names())}") from None


def burst_names(family: str | None = None) -> list[str]:
    """Registered instrument names (of one attack ``family`` if given), sorted."""
    return sorted(n for n, s in BURSTS.items() if family is None or s.family == family)


def render_burst(name: str, image: np.ndarray, rng: np.random.Generator, *, frames: int = 5,
                 landmarks: np.ndarray | None = None, params: Mapping[str, Any] | None = None,
                 background: np.ndarray | None = None) -> list[np.ndarray]:
    """``frames`` BGR uint8 frames of instrument ``name`` presenting ``image`` to the camera.

    Frame 0 is the primary frame the gate sends, frames 1.. its burst. ``background``
    is the still gate scene (resized to cover the frame); a synthetic one when None.
    Black alignment wedges at the photo's borders (as in LFW) are filled first.
    """
    spec = get_burst(name)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError(f"expected a BGR uint8 image, got {getattr(image, 'shape', None)}")
    if not 1 <= frames <= 64:
        raise ValueError(f"frames must be 1..64, got {frames}")
    values = spec.validate(params)
    cam = CameraParams(**{k: values.pop(k) for k in CameraParams.model_fields})
    size = (cam.width, cam.height)
    scene = gate_scene(size, rng) if background is None else fit_background(background, size)
    jitter = rng.uniform(-cam.placement, cam.placement, size=2) * size
    face_at = np.array([cam.face_x, cam.face_y]) * size + jitter
    shot = Shot(fill_borders(image), face_landmarks(image, landmarks), Camera(cam), scene,
                face_at, frames, rng)
    out = spec.fn(shot, **values)
    if len(out) != frames or any(f.shape != (cam.height, cam.width, 3) or f.dtype != np.uint8
                                 for f in out):
        raise AssertionError(f"instrument {name!r} returned a malformed burst")
    return out
