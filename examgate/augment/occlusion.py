"""Occlusions drawn from the landmarks: a surgical mask, sunglasses, a cap's shadow, hair.

Shapes are laid out in face units (see :class:`FaceFrame`): origin between the
eyes, one unit per eye distance, ``v`` down the face; so they follow a tilted,
small or off-centre face. Typical positions: nose tip ``v ~ 0.55``, mouth
``v ~ 1.0``, chin ``v ~ 1.8``, cheeks at ``u ~ +/-1``.
"""

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
    soft_mask,
    to_float,
    to_uint8,
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

# BGR, 0..1.
_MASK_COLOURS = {"blue": (0.90, 0.80, 0.62), "white": (0.93, 0.93, 0.92),
                 "green": (0.78, 0.86, 0.70)}


def _blend(image: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image`` (uint8) under ``layer`` (float 0..1) with per-pixel ``alpha`` (H, W)."""
    a = alpha[..., None]
    return to_uint8(to_float(image) * (1.0 - a) + layer * a)


def _scene_shading(image: np.ndarray, region: np.ndarray, sigma: float) -> np.ndarray:
    """Low-frequency brightness of the scene relative to ``region``'s mean, (H, W, 1).

    Drawn objects are lit by the same light as the face; without this a mask
    glows white on a dim frame.
    """
    lum: np.ndarray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    lum = cv2.GaussianBlur(lum, (0, 0), max(sigma, 1.0))
    ref = float((lum * region).sum() / max(region.sum(), 1e-6))
    return np.clip(lum / max(ref, 1e-3), 0.6, 1.25)[..., None] * min(1.0, 0.35 + ref)


@register("mask", Kind.OCCLUSION)
def mask(image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None, *,
         colour: Literal["random", "blue", "white", "green"] = "random",
         coverage: Annotated[float, Field(ge=0.5, le=1.5)] = 1.0,
         pleats: bool = True) -> np.ndarray:
    """A surgical mask from the nose bridge, over nose and mouth, down to the chin.

    ``coverage`` scales how far up the nose the mask reaches (1 = just below
    the eyes' lower lids).
    """
    pts = face_landmarks(image, landmarks)
    frame = FaceFrame.from_landmarks(pts)
    nose, mouth_l, mouth_r = frame.to_face(pts[2:])
    mouth_v = (mouth_l[1] + mouth_r[1]) / 2.0
    chin = mouth_v + 0.8 + rng.uniform(-0.05, 0.05)
    top = nose[1] - 0.3 * coverage
    cu, ch = nose[0] * 0.7, (mouth_l[0] + mouth_r[0]) / 2.0
    outline = [
        (-1.0, top + 0.22), (-0.55, top + 0.1), (cu, top), (0.55, top + 0.1), (1.0, top + 0.22),
        (0.98, mouth_v + 0.05), (0.75, chin - 0.3), (ch + 0.35, chin - 0.05), (ch, chin),
        (ch - 0.35, chin - 0.05), (-0.75, chin - 0.3), (-0.98, mouth_v + 0.05),
    ]
    polygon = frame.to_image(outline)
    alpha = soft_mask(image.shape, polygon, blur_px=0.8)
    name = str(rng.choice(sorted(_MASK_COLOURS))) if colour == "random" else colour
    base = np.asarray(_MASK_COLOURS[name], dtype=np.float32)
    base = np.clip(base + rng.normal(0.0, 0.015, size=3), 0.0, 1.0).astype(np.float32)
    layer = np.broadcast_to(base, image.shape).copy()
    layer *= _scene_shading(image, alpha, sigma=frame.scale / 2.0)
    u, v = frame.coords(image.shape)
    # Rounded over the face: darker towards the cheeks.
    layer *= (1.0 - 0.18 * np.clip(np.abs(u), 0.0, 1.0) ** 2)[..., None]
    if pleats:
        phase = (v - top) / max(chin - top, 1e-3) * 3.0 * 2.0 * np.pi
        layer *= (1.0 - 0.07 * (np.sin(phase) > 0.6))[..., None]
    layer += rng.normal(0.0, 0.01, size=image.shape).astype(np.float32)
    out = _blend(image, layer, alpha)
    # Ear loops.
    loop = max(1, round(frame.scale / 30.0))
    for side in (-1.0, 1.0):
        a, b, c = frame.to_image([(side * 1.0, top + 0.22), (side * 1.2, top + 0.05),
                                  (side * 0.98, mouth_v + 0.05)])
        for p, q in ((a, b), (c, b)):
            cv2.line(out, tuple(np.rint(p).astype(int)), tuple(np.rint(q).astype(int)),
                     (225, 225, 225), loop, cv2.LINE_AA)
    return out


@register("sunglasses", Kind.OCCLUSION)
def sunglasses(image: np.ndarray, rng: np.random.Generator,
               landmarks: np.ndarray | None = None, *,
               opacity: Fraction = 0.92,
               lens_size: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0) -> np.ndarray:
    """Dark lenses over both eyes, a bridge and temple arms, with a faint reflection."""
    pts = face_landmarks(image, landmarks)
    frame = FaceFrame.from_landmarks(pts)
    d = frame.scale
    angle = float(np.degrees(np.arctan2(frame.ux[1], frame.ux[0])))
    axes = (max(1, round(0.37 * d * lens_size)), max(1, round(0.27 * d * lens_size)))
    lenses = np.zeros(image.shape[:2], dtype=np.uint8)
    rims = np.zeros_like(lenses)
    rim = max(1, round(d / 22.0))
    for eye in pts[:2]:
        centre = frame.to_image(frame.to_face(eye[None]) + np.array([[0.0, 0.05]]))[0]
        c = (round(float(centre[0])), round(float(centre[1])))
        cv2.ellipse(lenses, c, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(rims, c, axes, angle, 0, 360, 255, rim, cv2.LINE_AA)
    half = 0.5 + 0.37 * lens_size
    for p, q in (((-0.5 + 0.37 * lens_size, -0.05), (0.5 - 0.37 * lens_size, -0.05)),
                 ((-half, -0.02), (-1.1, -0.1)), ((half, -0.02), (1.1, -0.1))):
        a, b = frame.to_image([p, q])
        cv2.line(rims, tuple(np.rint(a).astype(int)), tuple(np.rint(b).astype(int)), 255,
                 rim + 1, cv2.LINE_AA)
    tint = np.array([0.07, 0.07, 0.08], dtype=np.float32) + rng.uniform(0.0, 0.06, size=3)
    layer = np.broadcast_to(tint.astype(np.float32), image.shape).copy()
    # A soft specular highlight at the same random spot on both lenses.
    off = rng.uniform(-0.15, 0.15, size=2)
    u, v = frame.coords(image.shape)
    for eu in (-0.5, 0.5):
        layer += 0.25 * np.exp(-(((u - eu - off[0]) / 0.1) ** 2
                                 + ((v - 0.02 - off[1]) / 0.06) ** 2))[..., None]
    alpha = np.maximum(lenses.astype(np.float32) / 255.0 * opacity,
                       rims.astype(np.float32) / 255.0)
    return _blend(image, layer, alpha)


@register("cap_shadow", Kind.OCCLUSION)
def cap_shadow(image: np.ndarray, rng: np.random.Generator,
               landmarks: np.ndarray | None = None, *,
               strength: Fraction = 0.65,
               edge: Annotated[float, Field(ge=-1.5, le=0.5)] = -0.2,
               softness: Annotated[float, Field(gt=0.0, le=1.0)] = 0.12) -> np.ndarray:
    """The shadow of a cap's brim over the forehead, down to ``edge`` (eye distances; 0 = eyes).

    The shadow line curves and tilts a little at random, as a brim seen from below does.
    """
    frame = FaceFrame.from_landmarks(face_landmarks(image, landmarks))
    u, v = frame.coords(image.shape)
    curve, tilt = rng.uniform(0.05, 0.2), rng.uniform(-0.08, 0.08)
    line = edge + curve * (1.0 - np.clip(u, -1.5, 1.5) ** 2 / 2.25) + tilt * u
    shade = 1.0 / (1.0 + np.exp((v - line) / softness))  # 1 above the line, 0 below
    # Deeper shadow nearer the brim, with a cool tint from skylight.
    depth = strength * (0.8 + 0.2 * np.clip((line - v) / 1.0, 0.0, 1.0))
    gain = 1.0 - (depth * shade)[..., None] * np.array([0.9, 1.0, 1.05], dtype=np.float32)
    return to_uint8(to_float(image) * np.clip(gain, 0.0, 1.0))


def _bezier(p: np.ndarray, n: int = 24) -> np.ndarray:
    """Points along a cubic Bezier curve with control points ``p`` (4, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t ** 2 * p[2]
            + t ** 3 * p[3])


@register("hair_over_eyes", Kind.OCCLUSION)
def hair_over_eyes(image: np.ndarray, rng: np.random.Generator,
                   landmarks: np.ndarray | None = None, *,
                   side: Literal["random", "left", "right"] = "random",
                   strands: Annotated[int, Field(ge=1, le=200)] = 60,
                   opacity: Fraction = 0.9) -> np.ndarray:
    """A fringe of thin dark strands falling over one eye (``left`` = the image-left eye)."""
    frame = FaceFrame.from_landmarks(face_landmarks(image, landmarks))
    which = str(rng.choice(["left", "right"])) if side == "random" else side
    eu = -0.5 if which == "left" else 0.5
    sweep = -eu * 0.5  # strands fall from the parting towards the temple
    alpha: np.ndarray = np.zeros(image.shape[:2], dtype=np.float32)
    shade: np.ndarray = np.zeros(image.shape[:2], dtype=np.float32)
    width = max(1, round(frame.scale / 40.0))
    for _ in range(strands):
        x0 = eu + rng.normal(0.0, 0.2)
        bend = rng.normal(0.0, 0.12)
        ctrl = np.array([[x0 + sweep, -1.3],
                         [x0 + sweep * 0.6 + bend, -0.7],
                         [x0 + bend * 0.5, -0.1],
                         [x0 - sweep * 0.3 + rng.normal(0.0, 0.1), rng.uniform(0.05, 0.6)]])
        curve = frame.to_image(_bezier(ctrl))
        canvas = np.zeros(image.shape[:2], dtype=np.uint8)
        cv2.polylines(canvas, [np.rint(curve * 16).astype(np.int32)], False, 255,
                      width + int(rng.integers(0, 2)), cv2.LINE_AA, shift=4)
        a = canvas.astype(np.float32) / 255.0 * rng.uniform(0.5, 1.0)
        shade = np.where(a > alpha, np.float32(rng.uniform(0.6, 1.4)), shade)
        alpha = 1.0 - (1.0 - alpha) * (1.0 - a)
    colour = np.array([0.05, 0.07, 0.10], dtype=np.float32) * rng.uniform(0.6, 1.6)
    layer = np.clip(colour * shade[..., None], 0.0, 1.0)
    # Strands grow out of the hairline instead of starting at a hard edge.
    _, v = frame.coords(image.shape)
    fade = np.clip((v + 1.3) / 0.5, 0.0, 1.0)
    return _blend(image, layer, alpha * fade * opacity)
