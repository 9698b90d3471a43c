"""The attacker's body: the hands that hold a print or a device, and the person behind it."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from examgate.augment.bursts_base import Shot
from examgate.augment.bursts_plane import bounds, project
from examgate.augment.bursts_scene import SKIN, blend_into, silhouette

Grip = tuple[np.ndarray, np.ndarray, float]  # thumb tip, thumb base, thumb width (texels)


def grips(rng: np.random.Generator, width: float, height: float, thick: float,
          sides: int = 2, reach: tuple[float, float] = (0.6, 1.1),
          along: tuple[float, float] = (0.45, 0.85)) -> list[Grip]:
    """Thumbs ``thick`` texels wide gripping the side edges of a ``width`` x ``height`` plane.

    Each is (tip, base, thickness) in texel coordinates: the thumb reaches ``reach``
    thumb widths across the edge onto the front at ``along`` of the height, and the
    hand behind continues past the edge.
    """
    held = []
    for side in rng.permutation([-1, 1])[:sides]:
        y = rng.uniform(*along) * height
        x_edge = 0.0 if side < 0 else width
        tip = np.array([x_edge - side * rng.uniform(*reach) * thick,
                        y - rng.uniform(0.0, 0.5) * thick])
        base = np.array([x_edge + side * 1.5 * thick, y + rng.uniform(0.4, 1.0) * thick])
        held.append((tip, base, thick))
    return held


class Hand:
    """The hands holding a plane: thumbs in front of it, the rest of each hand behind.

    They are rigid with the plane, so each is drawn once (as a sprite, at the pose of
    ``hom0``) and carried to every later frame by that frame's homography relative to it.
    """

    def __init__(self, held: list[Grip], skin: np.ndarray,
                 hom0: np.ndarray, size: tuple[int, int]) -> None:
        self.hom0_inv = np.linalg.inv(hom0)
        self.behind = [_sprite(g, skin * 0.8, False, hom0, size) for g in held]
        self.front = [_sprite(g, skin, True, hom0, size) for g in held]

    def draw(self, frame: np.ndarray, hom: np.ndarray, front: bool) -> None:
        """Draw the thumbs (``front``) or the hands behind the plane at ``hom``."""
        rel = hom @ self.hom0_inv
        for rgba, sx, sy in self.front if front else self.behind:
            h, w = rgba.shape[:2]
            to_frame = rel @ np.array([[1, 0, sx], [0, 1, sy], [0, 0, 1]])
            corners = project(np.array([[0, 0], [w, 0], [w, h], [0, h]]), to_frame)
            x0, y0, x1, y1 = bounds(corners, (frame.shape[1], frame.shape[0]))
            if x1 <= x0 or y1 <= y0:
                continue
            local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ to_frame
            moved = cv2.warpPerspective(rgba, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            alpha = moved[..., 3].astype(np.float32) * (1.0 / 255.0)
            blend_into(frame, cv2.cvtColor(moved, cv2.COLOR_BGRA2BGR), alpha, x0, y0)


def _sprite(grip: Grip, colour: np.ndarray, thumb: bool,
            hom: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    """A thumb across the edge (``thumb``) or the hand and wrist behind it, drawn through
    ``hom``: (BGRA sprite, x0, y0 in the frame)."""
    tip, base, thick = grip
    axis = (base - tip) / max(float(np.linalg.norm(base - tip)), 1e-6)
    normal = np.array([-axis[1], axis[0]])
    if thumb:
        arc = np.linspace(-np.pi / 2, np.pi / 2, 9)
        r = thick / 2
        cap = tip + r * (np.outer(-np.cos(arc), axis) + np.outer(np.sin(arc), normal))
        outline = np.vstack([cap, base + normal * r * 1.1, base - normal * r * 1.1])
    else:  # the back of the hand past the edge, and the wrist leaving the view
        palm = base + axis * 1.0 * thick
        ring = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        blob = palm + np.outer(np.cos(ring), axis) * 1.5 * thick \
            + np.outer(np.sin(ring), normal) * 1.2 * thick
        wrist = palm + axis * 5.0 * thick
        outline = np.vstack([blob, wrist + normal * 1.0 * thick, wrist - normal * 1.0 * thick])
    pts = project(outline, hom)
    margin = 60  # room for the parts that move into view later in the burst
    x0, y0, x1, y1 = bounds(pts + margin, (size[0] + 2 * margin, size[1] + 2 * margin), pad=4)
    x0, y0, x1, y1 = x0 - margin, y0 - margin, max(x1, x0 + 1) - margin, max(y1, y0 + 1) - margin
    local = np.rint((pts - [x0, y0]) * 16).astype(np.int32)
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(canvas, cv2.convexHull(local), 255, cv2.LINE_AA, 4)
    # Rounded: brightest along the middle, darker towards the silhouette's edge.
    depth = cv2.distanceTransform((canvas > 127).astype(np.uint8), cv2.DIST_L2, 3)
    depth = np.sqrt(depth / max(float(depth.max()), 1.0))
    layer = cv2.convertScaleAbs(colour * (0.62 + 0.45 * depth)[..., None])
    alpha = cv2.GaussianBlur(canvas, (0, 0), 0.8)
    return cv2.merge([*cv2.split(layer), alpha]), x0, y0


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A random skin tone, BGR 0..255."""
    return SKIN[rng.integers(len(SKIN))] * rng.uniform(0.92, 1.08)


def behind(shot: Shot, depth: float, spread: tuple[float, float]) -> Shot:
    """``shot`` with the attacker's head and shoulders at ``depth`` cm in its scene, the
    head off the held object's face by up to ``spread`` (x, y) face widths (more below)."""
    face_px = shot.camera.focal * 15.0 / depth
    dx, dy = spread
    at = shot.face_at + shot.rng.uniform([-dx, -0.2 * dy], [dx, dy]) * face_px
    return replace(shot, scene=silhouette(shot.scene, at, face_px, shot.rng))
