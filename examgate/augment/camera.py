"""Camera and framing: motion blur, defocus, low resolution, JPEG, tilt, an off-centre face.

Sizes in pixels are chosen for 250 x 250 LFW frames; scale them for larger frames.
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.base import Kind, Moved, face_landmarks, register, warp_points

Pixels = Annotated[float, Field(ge=0.0, le=100.0)]


def _line_kernel(length: float, degrees: float) -> np.ndarray:
    """A normalised straight-line kernel ``length`` pixels long at ``degrees``."""
    size = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((size * 4, size * 4), dtype=np.uint8)  # draw at 4x, then area-average
    c = size * 2 - 0.5
    half = length * 2.0
    dx, dy = half * np.cos(np.radians(degrees)), half * np.sin(np.radians(degrees))
    p = (round((c - dx) * 16), round((c - dy) * 16))
    q = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(kernel, p, q, 255, 4, cv2.LINE_AA, shift=4)
    small = cv2.resize(kernel.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return small / max(float(small.sum()), 1e-6)


@register("motion_blur", Kind.CAMERA)
def motion_blur(image: np.ndarray, rng: np.random.Generator,
                landmarks: np.ndarray | None = None, *,
                length: Annotated[float, Field(ge=1.0, le=100.0)] = 12.0,
                degrees: Annotated[float | None, Field(ge=-180.0, le=180.0)] = None,
                ) -> np.ndarray:
    """A student walking past the camera: a line kernel ``length`` px at a (random) angle."""
    angle = float(rng.uniform(-180.0, 180.0)) if degrees is None else degrees
    return cv2.filter2D(image, -1, _line_kernel(length, angle), borderType=cv2.BORDER_REPLICATE)


@register("defocus", Kind.CAMERA)
def defocus(image: np.ndarray, rng: np.random.Generator,
            landmarks: np.ndarray | None = None, *,
            radius: Annotated[float, Field(ge=0.5, le=50.0)] = 4.0) -> np.ndarray:
    """Out of focus: a disk (pill-box) kernel of ``radius`` px."""
    size = 2 * int(np.ceil(radius)) + 3  # odd, so the kernel has a centre pixel
    kernel = np.zeros((size * 4, size * 4), dtype=np.uint8)  # draw at 4x, then area-average
    centre = size * 2 * 16 - 8
    cv2.circle(kernel, (centre, centre), round(radius * 4 * 16), 255, -1, cv2.LINE_AA, shift=4)
    small = cv2.resize(kernel.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    kernel_f = (small / max(float(small.sum()), 1e-6)).astype(np.float32)
    return cv2.filter2D(image, -1, kernel_f, borderType=cv2.BORDER_REPLICATE)


@register("low_resolution", Kind.CAMERA)
def low_resolution(image: np.ndarray, rng: np.random.Generator,
                   landmarks: np.ndarray | None = None, *,
                   scale: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25) -> np.ndarray:
    """A distant or cheap camera: down-sample by ``scale`` and back up (bilinear)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(4, round(w * scale)), max(4, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@register("jpeg", Kind.CAMERA)
def jpeg(image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None, *,
         quality: Annotated[int, Field(ge=1, le=100)] = 10) -> np.ndarray:
    """Heavy JPEG compression (blocking, ringing) at ``quality``."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode JPEG")
    out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if out is None:
        raise RuntimeError("cv2.imdecode failed to decode its own JPEG")
    return out


@register("rotate", Kind.CAMERA)
def rotate(image: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray | None = None,
           *, min_degrees: Annotated[float, Field(ge=0.0, le=90.0)] = 4.0,
           max_degrees: Annotated[float, Field(ge=0.0, le=90.0)] = 12.0) -> Moved:
    """In-plane head or camera tilt: a random angle in [min, max] degrees either way.

    Rotates about the face centre so the face stays in the frame; borders replicate.
    """
    pts = face_landmarks(image, landmarks)
    lo, hi = sorted((min_degrees, max_degrees))
    angle = float(rng.uniform(lo, hi) * rng.choice([-1.0, 1.0]))
    centre = pts.mean(axis=0)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 1.0)
    h, w = image.shape[:2]
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return Moved(out, warp_points(pts, matrix))


@register("off_center", Kind.CAMERA)
def off_center(image: np.ndarray, rng: np.random.Generator,
               landmarks: np.ndarray | None = None, *,
               shift: Annotated[float, Field(ge=0.0, le=0.45)] = 0.22) -> Moved:
    """The student stands to one side: shift the frame by ~``shift`` of its size, replicate edges.

    The direction is random; the distance is 70-100% of ``shift``.
    """
    pts = face_landmarks(image, landmarks)
    h, w = image.shape[:2]
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dist = shift * rng.uniform(0.7, 1.0)
    dx, dy = dist * w * np.cos(angle), dist * h * np.sin(angle)
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return Moved(out, warp_points(pts, matrix))
