"""Flat things held up to the gate camera: a sheet of paper, a phone, a tablet.

A :class:`Plane` is a texture with a physical texel size; a :class:`Pose` puts it in
front of the pinhole camera, and the pair gives the homography that draws it. Moving
a plane rigidly in 3D moves every point of it by one homography per frame, which is
what tells a flat replica from a face. Textures are sampled at :data:`TEXELS_PER_PX`
texels per camera pixel so that fine periodic structure (halftone dots, screen
pixels) aliases against the sensor grid as real moire does, changing as it moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from examgate.augment.bursts_base import Camera
from examgate.augment.bursts_scene import blend_into, drift, smooth

TEXELS_PER_PX = 2.0
# Where the room's light comes from, seen from a surface facing the camera: above, in front.
_LIGHT = np.array([0.15, -0.8, -0.58]) / np.linalg.norm([0.15, -0.8, -0.58])

Shade = Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]  # (layer, alpha, x0, y0)
Lighting = Callable[[int], Shade]                                  # frame index -> its Shade


@dataclass(frozen=True)
class Pose:
    """Where a plane's anchor sits (cm, camera coordinates, y down) and how it is turned."""

    x: float
    y: float
    z: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """The 3 x 3 rotation, roll then pitch then yaw."""
        a, b, c = (math.radians(v) for v in (self.yaw, self.pitch, self.roll))
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
        rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
        return ry @ rx @ rz

    def lambert(self) -> float:
        """Brightness of the plane under the room light relative to facing the camera."""
        normal = self.rotation @ np.array([0.0, 0.0, -1.0])
        return max(float(normal @ _LIGHT), 0.05) / float(-_LIGHT[2])


@dataclass(frozen=True)
class Plane:
    """A flat textured object: BGR texture, outline polygon, texel size and anchor (texels)."""

    texture: np.ndarray
    outline: np.ndarray        # (N, 2) texel points, convex or not
    texel_cm: float
    anchor: tuple[float, float]

    @property
    def size(self) -> tuple[int, int]:
        """Texture (width, height) in texels."""
        return self.texture.shape[1], self.texture.shape[0]


def rounded_box(width: float, height: float, radius: float, inset: float = 0.0) -> np.ndarray:
    """The outline (N, 2) of a ``width`` x ``height`` rectangle with rounded corners."""
    r = max(min(radius, width / 2, height / 2) - inset, 0.0)
    arc = np.linspace(0, np.pi / 2, 7)
    corners = [(width - inset - r, height - inset - r, 0.0), (inset + r, height - inset - r, 1),
               (inset + r, inset + r, 2), (width - inset - r, inset + r, 3)]
    pts = [np.column_stack([cx + r * np.cos(arc + q * np.pi / 2),
                            cy + r * np.sin(arc + q * np.pi / 2)]) for cx, cy, q in corners]
    return np.vstack(pts)


def facing(camera: Camera, at: np.ndarray, z: float, rng: np.random.Generator,
           tilt_deg: float) -> Pose:
    """A pose at depth ``z`` whose anchor projects to pixel ``at``, tilted up to ``tilt_deg``."""
    f, (w, h) = camera.focal, camera.size
    yaw, pitch = rng.uniform(-tilt_deg, tilt_deg, 2)
    return Pose((at[0] - w / 2) * z / f, (at[1] - h / 2) * z / f, z, float(yaw), float(pitch),
                float(rng.uniform(-0.3, 0.3) * tilt_deg))


def homography(camera: Camera, plane: Plane, pose: Pose) -> np.ndarray:
    """Texel (x, y) -> frame pixel homography of ``plane`` at ``pose``."""
    r = pose.rotation
    extrinsic = np.column_stack([r[:, 0], r[:, 1], [pose.x, pose.y, pose.z]])
    s, (ax, ay) = plane.texel_cm, plane.anchor
    texel_to_cm = np.array([[s, 0, -s * ax], [0, s, -s * ay], [0, 0, 1]])
    hom = camera.matrix @ extrinsic @ texel_to_cm
    return hom / hom[2, 2]


def hand_poses(rng: np.random.Generator, base: Pose, frames: int, interval_s: float,
               motion: float) -> list[Pose]:
    """Poses of a plane held in a hand over a burst: a drift and a tremor, rigid in 3D.

    At ``motion`` 1, half a second of holding drifts about 0.6 cm sideways, 1.2 cm in
    depth, 2 degrees of yaw and pitch and 1.5 of roll, with a tremor of 0.4 mm and
    0.1 degree on top: the size of a steady arm's wander.
    """
    amp = np.array([0.6, 0.6, 1.2, 2.0, 2.0, 1.5]) * motion
    tremor = np.array([0.04, 0.04, 0.04, 0.1, 0.1, 0.1]) * motion
    paths = np.stack([drift(rng, frames, interval_s, a) for a in amp], axis=1)
    paths[1:] += rng.normal(0.0, 1.0, size=(frames - 1, 6)) * tremor
    return [_moved(base, d) for d in paths]


def stand_poses(rng: np.random.Generator, camera: Camera, base: Pose, frames: int,
                jitter_px: float) -> list[Pose]:
    """Poses of a plane on a stand: rigid jitter of about ``jitter_px`` pixels (vibration)."""
    cm = jitter_px * base.z / camera.focal / 2.0
    return [base] + [replace(base, x=base.x + dx, y=base.y + dy)
                     for dx, dy in rng.normal(0.0, cm, size=(frames - 1, 2))]


def reach(camera: Camera, poses: list[Pose],
          margin: float = 0.03) -> tuple[float, float, float, float]:
    """The extent (x0, y0, x1, y1 in cm, about the anchor) a plane needs to fill the whole
    view at every one of ``poses``: the frame's corners traced back onto the plane,
    widened by ``margin`` of the span."""
    w, h = camera.size
    corners = np.array([[0, w, w, 0], [0, 0, h, h], [1, 1, 1, 1]], np.float64)
    seen = []
    for pose in poses:
        r = pose.rotation
        onto = np.linalg.solve(camera.matrix @ np.column_stack([r[:, 0], r[:, 1],
                                                                [pose.x, pose.y, pose.z]]),
                               corners)
        seen.append(onto[:2] / np.maximum(onto[2], 1e-6))  # a ray that misses: far, not flipped
    pts = np.hstack(seen)
    # At a grazing tilt no plane fills the view; stop at a few frame widths.
    limit = 3.0 * max(w, h) * max(p.z for p in poses) / camera.focal
    lo, hi = np.maximum(pts.min(axis=1), -limit), np.minimum(pts.max(axis=1), limit)
    pad = margin * (hi - lo)
    return float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(hi[0] + pad[0]), \
        float(hi[1] + pad[1])


def _moved(pose: Pose, d: np.ndarray) -> Pose:
    return Pose(pose.x + d[0], pose.y + d[1], pose.z + d[2], pose.yaw + d[3],
                pose.pitch + d[4], pose.roll + d[5])


def bounds(points: np.ndarray, size: tuple[int, int], pad: int = 2) -> tuple[int, int, int, int]:
    """The pixel box (x0, y0, x1, y1) around ``points``, clipped to a frame of ``size``."""
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + pad
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), size[0]), min(int(y1), size[1])


def project(points: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """(N, 2) texel points through ``hom`` to pixels."""
    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, hom).reshape(-1, 2)


def in_front(outline: np.ndarray, hom: np.ndarray, near: float = 1e-3) -> np.ndarray:
    """``outline`` (texels) clipped to the part that ``hom`` puts in front of the camera."""
    depth = outline @ hom[2, :2] + hom[2, 2]
    if np.all(depth > near):
        return outline
    kept = []
    for i in range(len(outline)):  # one Sutherland-Hodgman pass, against depth = near
        a, b, da, db = outline[i - 1], outline[i], depth[i - 1], depth[i]
        if (da > near) != (db > near):
            kept.append(a + (b - a) * (near - da) / (db - da))
        if db > near:
            kept.append(b)
    return np.array(kept).reshape(-1, 2)


def draw_plane(frame: np.ndarray, plane: Plane, hom: np.ndarray,
               shade: Shade | None = None) -> None:
    """Composite ``plane`` into ``frame`` through ``hom``; ``shade(layer, alpha, x0, y0)``
    may relight the warped uint8 layer before it is blended."""
    visible = in_front(plane.outline, hom)
    if len(visible) < 3:
        return
    outline = project(visible, hom)
    x0, y0, x1, y1 = bounds(outline, (frame.shape[1], frame.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ hom
    size = (x1 - x0, y1 - y0)
    layer = cv2.warpPerspective(plane.texture, local, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    # The edge drawn as an anti-aliased polygon: sharper and cheaper than warping a mask.
    canvas = np.zeros((size[1], size[0]), np.uint8)
    pts = np.rint((outline - [x0, y0]) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, cv2.LINE_AA, 4)
    alpha = canvas.astype(np.float32) * (1.0 / 255.0)
    if shade is not None:
        layer = shade(layer, alpha, x0, y0)
    if canvas.min() == 255:  # nothing behind shows through (a poster, a screen up close)
        frame[y0:y1, x0:x1] = layer
    else:
        blend_into(frame, layer, alpha, x0, y0)


def glow(shape: tuple[int, int], x0: int, y0: int, centre: np.ndarray,
         radii: tuple[float, float], angle_deg: float = 0.0, flat: float = 1.0) -> np.ndarray:
    """A soft light spot (0..1, float32) over a region of ``shape`` at (x0, y0) of the frame.

    ``flat`` > 1 flattens the top (a tube or panel light rather than a point).
    Computed at a quarter of the resolution: it is smooth.
    """
    h, w = shape
    qh, qw = max(h // 4, 2), max(w // 4, 2)
    ys, xs = np.mgrid[0:qh, 0:qw].astype(np.float32)
    xs = xs * (w / qw) + x0 - float(centre[0])
    ys = ys * (h / qh) + y0 - float(centre[1])
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    u, v = (xs * c + ys * s) / radii[0], (-xs * s + ys * c) / radii[1]
    spot = np.exp(-((u * u + v * v) ** flat))
    return cv2.resize(spot.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def specular(camera: Camera, base: Pose, pose: Pose, start: np.ndarray) -> np.ndarray:
    """Where a far light's reflection in a glossy plane lands once the plane turns to ``pose``.

    A mirror turned by an angle turns the reflected ray by twice it, and a sideways
    shift does not move the image of a light at infinity at all.
    """
    turn = np.radians([pose.yaw - base.yaw, pose.pitch - base.pitch])
    return start + 2.0 * camera.focal * np.array([turn[0], -turn[1]])


def grid(shape: tuple[int, int], freq: tuple[float, float], depth: tuple[float, float],
         phases: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A separable periodic pattern (uint8 BGR, 255 = no dimming) of ``freq`` cycles per
    texel along x and y with modulation ``depth``; ``phases`` shift x per channel (radians)."""
    h, w = shape
    ys, xs = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
    col = 1.0 - depth[1] * 0.5 * (1.0 - np.cos(2 * np.pi * freq[1] * ys))
    planes = []
    for p in phases:
        row = 1.0 - depth[0] * 0.5 * (1.0 - np.cos(2 * np.pi * freq[0] * xs + p))
        planes.append(cv2.convertScaleAbs(np.multiply.outer(col, row), alpha=255.0))
    return cv2.merge(planes)


def alias(cycles_per_px: float, low: float = 0.04, high: float = 0.3) -> float:
    """The beat frequency (cycles/px) a fine pattern leaves after sampling on the sensor grid."""
    return float(np.clip(abs(cycles_per_px - round(cycles_per_px)), low, high))


def extend(photo: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """``photo`` grown by the given margins, as a zoomed-in picture or a poster print
    continues past the part that matters: its surroundings mirrored outwards and
    defocused, fading in over a wide band so no edge of the original shows."""
    if max(left, top, right, bottom) <= 0:
        return photo
    left, top, right, bottom = (max(v, 0) for v in (left, top, right, bottom))
    h, w = photo.shape[:2]
    blur = 0.06 * max(h, w)
    grown = cv2.copyMakeBorder(photo, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    inside = np.zeros(grown.shape[:2], np.float32)
    band = round(1.5 * blur)
    inside[top + band:top + h - band, left + band:left + w - band] = 1.0
    inside = smooth(inside, blur)
    return cv2.blendLinear(grown, smooth(grown, blur), inside, 1.0 - inside)
