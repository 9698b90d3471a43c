"""The transform registry, typed parameters, chains, and the face geometry they share.

A transform is a function ``fn(image, rng, landmarks=None, *, <typed params>)``
taking a BGR uint8 frame and returning a new one of the same dtype. Its
keyword-only parameters, with their annotations and defaults, are the single
source of truth for its parameter model: a scenario file is validated against
that model when it loads, so a misspelt parameter fails before a run starts.

Transforms that move the face (rotation, shifts, perspective) return
:class:`Moved` internally so that a chain keeps the landmarks on the face for
the steps that follow; callers always get a plain image back.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, ParamSpec

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

P = ParamSpec("P")

# Median YuNet landmarks over 150 random LFW deep-funneled images, as fractions of
# the 250 x 250 frame; used when a caller has no detection for the frame.
_LFW_LANDMARKS = np.array(
    [[0.417, 0.449], [0.592, 0.447], [0.505, 0.547], [0.433, 0.624], [0.582, 0.621]],
    dtype=np.float32,
)


class Kind(StrEnum):
    """What a transform simulates; also the stage it belongs to in a real capture."""

    SCENE = "scene"
    OCCLUSION = "occlusion"
    LIGHTING = "lighting"
    ATTACK = "attack"
    CAMERA = "camera"


class Moved(NamedTuple):
    """A transformed image and where the five landmarks went."""

    image: np.ndarray
    landmarks: np.ndarray


class ValidatesParams:
    """Mixin of a registered spec: ``validate`` checks parameters against ``params_model``."""

    what: typing.ClassVar[str]
    name: str
    params_model: type[BaseModel]

    def validate(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``params`` checked and completed with defaults; raises ``ValueError`` if invalid."""
        try:
            model = self.params_model.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise ValueError(f"bad parameters for {self.what} {self.name!r}: {exc}") from exc
        return model.model_dump()


@dataclass(frozen=True)
class TransformSpec(ValidatesParams):
    """A registered transform: its name, kind, function and parameter model."""

    what: typing.ClassVar[str] = "transform"
    name: str
    kind: Kind
    fn: Callable[..., np.ndarray | Moved]
    params_model: type[BaseModel]
    summary: str


TRANSFORMS: dict[str, TransformSpec] = {}


class UnknownNameError(KeyError):
    """Nothing is registered under the requested name (its message lists what is)."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownTransformError(UnknownNameError):
    """No transform is registered under the requested name."""


def params_model(what: str, name: str, fn: Callable[..., Any], *,
                 base: type[BaseModel] | None = None, suffix: str = "Params") -> type[BaseModel]:
    """A frozen pydantic model built from ``fn``'s keyword-only parameters (on ``base``'s
    fields, which ``fn`` may not redefine), named after ``name``."""
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if param.default is inspect.Parameter.empty:
            raise TypeError(f"{what} {name!r}: parameter {param.name!r} needs a default")
        if base is not None and param.name in base.model_fields:
            raise TypeError(f"{what} {name!r}: {param.name!r} is a {base.__name__} field")
        fields[param.name] = (hints[param.name], param.default)
    model_name = "".join(part.title() for part in name.split("_")) + suffix
    if base is not None:
        return create_model(model_name, __base__=base, **fields)
    return create_model(model_name, __config__=ConfigDict(frozen=True, extra="forbid"),
                        **fields)


def summary_of(fn: Callable[..., Any]) -> str:
    """The first line of ``fn``'s docstring, or nothing."""
    return (inspect.getdoc(fn) or "").splitlines()[0] if fn.__doc__ else ""


def register(name: str, kind: Kind) -> Callable[
    [Callable[P, np.ndarray | Moved]], Callable[P, np.ndarray]
]:
    """Decorator: register ``fn`` under ``name``; the returned function yields only the image."""

    def add(fn: Callable[P, np.ndarray | Moved]) -> Callable[P, np.ndarray]:
        if name in TRANSFORMS:
            raise ValueError(f"transform {name!r} is already registered")
        TRANSFORMS[name] = TransformSpec(name, kind, fn, params_model("transform", name, fn),
                                         summary_of(fn))

        @functools.wraps(fn)
        def image_only(*args: P.args, **kwargs: P.kwargs) -> np.ndarray:
            # Direct calls get the same parameter checks as scenario files.
            given = {k: kwargs.pop(k) for k in ("image", "rng", "landmarks") if k in kwargs}
            out = fn(*args, **given, **TRANSFORMS[name].validate(kwargs))  # type: ignore[arg-type]
            return out.image if isinstance(out, Moved) else out

        return image_only

    return add


def get_transform(name: str) -> TransformSpec:
    """The transform registered as ``name``."""
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise UnknownTransformError(
            f"unknown transform {name!r}; known: {', '.join(transform_names())}"
        ) from None


def transform_names(kind: Kind | str | None = None) -> list[str]:
    """Registered transform names (of one ``kind`` if given), sorted."""
    return sorted(n for n, s in TRANSFORMS.items() if kind is None or s.kind == kind)


def apply_transform_moved(name: str, image: np.ndarray, rng: np.random.Generator,
                          landmarks: np.ndarray | None = None,
                          params: Mapping[str, Any] | None = None) -> Moved:
    """Apply one transform by name; returns the image and the landmarks it moved to."""
    spec = get_transform(name)
    _check_image(image)
    pts = face_landmarks(image, landmarks)
    out = spec.fn(image, rng, pts, **spec.validate(params))
    if isinstance(out, Moved):
        return Moved(_check_output(name, image, out.image), out.landmarks.astype(np.float32))
    return Moved(_check_output(name, image, out), pts)


def apply_transform(name: str, image: np.ndarray, rng: np.random.Generator,
                    landmarks: np.ndarray | None = None, **params: Any) -> np.ndarray:
    """Apply the transform registered as ``name`` with ``params``; same shape, uint8."""
    return apply_transform_moved(name, image, rng, landmarks, params).image


class Step(NamedTuple):
    """One step of a chain: a transform name, its parameters and its own seed."""

    name: str
    params: Mapping[str, Any]
    seed: int


def apply_chain(image: np.ndarray, steps: Sequence[Step | tuple[str, Mapping[str, Any], int]],
                landmarks: np.ndarray | None = None) -> np.ndarray:
    """Apply ``steps`` in order, each with ``np.random.default_rng(seed)``; landmarks follow."""
    return apply_chain_moved(image, steps, landmarks).image


def apply_chain_moved(image: np.ndarray,
                      steps: Sequence[Step | tuple[str, Mapping[str, Any], int]],
                      landmarks: np.ndarray | None = None) -> Moved:
    """Like :func:`apply_chain`, also returning the final landmark positions."""
    current = Moved(image, face_landmarks(image, landmarks))
    for name, params, seed in steps:
        current = apply_transform_moved(name, current.image, np.random.default_rng(seed),
                                        current.landmarks, params)
    return current


def face_landmarks(image: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """``landmarks`` as a (5, 2) float32 array, or a guess for a centred face when None.

    The guess places the face as LFW's deep-funneled crops do (eyes at 45% of the
    height, about 17% of the width apart), scaled to the frame. It is right for
    LFW and for frames framed like it, and only roughly right otherwise; pass real
    detector landmarks when the face may be anywhere in the frame.
    """
    if landmarks is not None:
        pts = np.asarray(landmarks, dtype=np.float32)
        if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
            raise ValueError(f"landmarks must be a finite (5, 2) array, got shape {pts.shape}")
        return pts
    h, w = image.shape[:2]
    return _LFW_LANDMARKS * np.array([w, h], dtype=np.float32)


@dataclass(frozen=True)
class FaceFrame:
    """A face-aligned coordinate system: origin between the eyes, unit = eye distance.

    ``u`` runs from the image-left eye to the image-right eye, ``v`` down the face,
    so drawing in face units follows a tilted or scaled face.
    """

    origin: np.ndarray
    ux: np.ndarray
    vy: np.ndarray
    scale: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceFrame:
        """The frame of a face given its five landmarks."""
        left, right = landmarks[0].astype(np.float64), landmarks[1].astype(np.float64)
        axis = right - left
        scale = float(np.hypot(*axis))
        if scale < 1.0:  # degenerate landmarks: fall back to an upright frame
            axis, scale = np.array([1.0, 0.0]), 1.0
        ux = axis / np.hypot(*axis)
        return cls((left + right) / 2.0, ux, np.array([-ux[1], ux[0]]), scale)

    def to_image(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Face-unit points (N, 2) to image pixels (N, 2) float32."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        out = self.origin + self.scale * (pts[:, :1] * self.ux + pts[:, 1:] * self.vy)
        return out.astype(np.float32)

    def coords(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel face coordinates (u, v) for an image of ``shape``, float32."""
        ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
        dx, dy = xs - self.origin[0], ys - self.origin[1]
        u = (dx * self.ux[0] + dy * self.ux[1]) / self.scale
        v = (dx * self.vy[0] + dy * self.vy[1]) / self.scale
        return u.astype(np.float32), v.astype(np.float32)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Image pixels (N, 2) to face units (N, 2)."""
        d = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self.origin
        return np.stack([d @ self.ux, d @ self.vy], axis=1) / self.scale


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in 0..1."""
    return image.astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8, rounded and clipped."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def warp_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine or 3x3 perspective ``matrix`` to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homo = np.hstack([pts, np.ones((len(pts), 1))])
    out = homo @ np.asarray(matrix, dtype=np.float64).T
    if out.shape[1] == 3:
        out = out[:, :2] / out[:, 2:3]
    return out.astype(np.float32)


def soft_mask(shape: tuple[int, ...], polygon: np.ndarray, blur_px: float) -> np.ndarray:
    """A float32 0..1 mask of ``polygon`` (N, 2 pixels) with edges softened by ``blur_px``."""
    import cv2

    # Anti-aliasing works on 8-bit canvases only; draw at 16x sub-pixel precision.
    canvas = np.zeros(shape[:2], dtype=np.uint8)
    pts = np.rint(np.asarray(polygon, dtype=np.float64) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    mask: np.ndarray = canvas.astype(np.float32) / 255.0
    if blur_px > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_px)
    return mask


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected a BGR uint8 image of shape (H, W, 3), got {shape}")


def _check_output(name: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    if after.dtype != np.uint8 or after.shape != before.shape:
        raise AssertionError(f"transform {name!r} returned {after.dtype} {after.shape}, "
                             f"expected uint8 {before.shape}")
    return after
