"""The live student: a head that turns a little, in depth, in front of the still gate scene."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.base import FaceFrame
from examgate.augment.bursts_base import Shot, register_burst
from examgate.augment.bursts_scene import (
    Drawing,
    blend_into,
    capture,
    drift,
    smooth,
    soft_region,
)

Degrees = Annotated[float, Field(ge=0.0, le=15.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# Depth of the head in front of the axis it turns about (through the ears), in eye
# distances (6.3 cm): the face 8.5 cm, curving back to the ears 7.5 cm to either
# side; the nose tip 2.5 cm further forward, the lips 1 cm, the eyes 1.3 cm deep
# in their sockets.
_FRONT, _HALF_WIDTH, _NOSE, _LIPS, _SOCKET = 1.35, 1.2, 0.4, 0.15, 0.2


@dataclass(frozen=True)
class Person:
    """The student cut from the photo at frame scale: texture, soft mask, place, face frame."""

    texture: np.ndarray
    alpha: np.ndarray
    origin: tuple[int, int]
    face: FaceFrame
    landmarks: np.ndarray     # face landmarks in layer pixels


def cut_person(shot: Shot) -> Person:
    """Head, neck and shoulders of the photo, scaled so the face is ``face_px`` wide at
    ``shot.face_at``; the photo's border is smeared down to the frame's bottom as a torso."""
    s = shot.face_scale
    w, h = shot.camera.size
    centre = shot.landmarks.mean(axis=0)
    e = s * shot.eye_distance
    fx, fy = shot.face_at
    x0, y0 = int(fx - 3.8 * e), int(fy - 2.4 * e)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(int(fx + 3.8 * e), w), h
    size = (max(x1 - x0, 1), max(y1 - y0, 1))
    m = np.array([[s, 0, fx - s * centre[0] - x0], [0, s, fy - s * centre[1] - y0]])
    tex = cv2.warpAffine(shot.photo, m, size, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    core = np.zeros(shot.photo.shape[:2], np.float32)
    core[3:-3, 3:-3] = 1.0  # the last rows of a photo are often compression or warp debris
    inside = cv2.warpAffine(core, m, size, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = smooth(inside, 0.2 * e)
    tex = cv2.blendLinear(tex, smooth(tex, 0.6 * e), inside, 1.0 - inside)
    pts = (shot.landmarks * s + m[:, 2]).astype(np.float32)
    face = FaceFrame.from_landmarks(pts)
    angle = math.degrees(math.atan2(face.ux[1], face.ux[0]))

    def ellipse(u: float, v: float, a: float, b: float) -> Drawing:
        c = face.to_image([[u, v]])[0] * 16
        return lambda canvas: cv2.ellipse(canvas, (round(c[0]), round(c[1])),
                                          (round(a * e * 16), round(b * e * 16)), angle, 0, 360,
                                          255, -1, cv2.LINE_AA, 4)

    shape = (size[1], size[0])
    parts = [ellipse(0, 0.4, 1.55, 2.0), ellipse(0, 2.1, 0.8, 1.0), ellipse(0, 4.6, 3.4, 2.6)]
    alpha = soft_region(shape, lambda c: [p(c) for p in parts], 0.1 * e)
    return Person(tex, alpha, (x0, y0), face, pts)


def live_frames(shot: Shot, *, yaw_deg: float = 3.0, pitch_deg: float = 2.0,
                roll_deg: float = 1.0, shift_px: float = 3.0, still: float = 0.1,
                blink: float = 0.3, expression: float = 1.0) -> list[np.ndarray]:
    """The frames of a live student; see :func:`bona_fide` for the parameters."""
    rng, cam = shot.rng, shot.camera.params
    person = cut_person(shot)
    e = person.face.scale
    size_px = cam.face_px / 140.0
    calm = 0.05 if rng.random() < still else 1.0
    dt = cam.interval_ms / 1000.0
    n = shot.frames
    yaw, pitch, roll = (np.radians(drift(rng, n, dt, a * calm))
                        for a in (yaw_deg, pitch_deg, roll_deg))
    tx, ty = (drift(rng, n, dt, shift_px * size_px * calm) for _ in range(2))
    blink_at = int(rng.integers(1, n)) if n > 1 and rng.random() < blink else -1
    closure = rng.uniform(0.5, 1.0)
    faces = rng.normal(0.0, 1.0, size=(n, 3)) * expression * size_px * calm * [0.6, 0.5, 0.5]

    # The fields that turning and expressions move, on a coarse grid (they are smooth).
    bh, bw = person.alpha.shape
    qh, qw = max(bh // 4, 2), max(bw // 4, 2)
    gy, gx = np.mgrid[0:qh, 0:qw].astype(np.float32)
    gx, gy = gx * (bw / qw), gy * (bh / qh)
    f = person.face
    u = ((gx - f.origin[0]) * f.ux[0] + (gy - f.origin[1]) * f.ux[1]) / e
    v = ((gx - f.origin[0]) * f.vy[0] + (gy - f.origin[1]) * f.vy[1]) / e
    pts = f.to_face(person.landmarks)

    def bump(c: np.ndarray, su: float, sv: float) -> np.ndarray:
        return np.exp(-((u - c[0]) ** 2 / (2 * su * su) + (v - c[1]) ** 2 / (2 * sv * sv)))

    mouth = (pts[3] + pts[4]) / 2
    depth = _FRONT * np.sqrt(np.clip(1 - (u / _HALF_WIDTH) ** 2 - ((v - 0.55) / 1.9) ** 2, 0, 1)) \
        + _NOSE * bump(pts[2], 0.22, 0.22) + _LIPS * bump(mouth, 0.4, 0.2) \
        - _SOCKET * (bump(pts[0], 0.2, 0.16) + bump(pts[1], 0.2, 0.16))
    head = np.clip((2.9 - v) / 0.9, 0, 1)
    head = head * head * (3 - 2 * head)
    depth *= head * e
    lids = bump(pts[0], 0.25, 0.13) + bump(pts[1], 0.25, 0.13)
    corners = (bump(pts[3], 0.18, 0.18), bump(pts[4], 0.18, 0.18))
    lip = bump(mouth + [0, 0.15], 0.35, 0.12)
    brows = bump(pts[0] - [0, 0.35], 0.3, 0.12) + bump(pts[1] - [0, 0.35], 0.3, 0.12)
    ru, rv = u * e, (v - 2.6) * e                         # about the neck, for roll

    full_y, full_x = np.indices((bh, bw), dtype=np.float32)
    # Texture and mask travel together as one four-channel image: one remap per frame.
    rgba = cv2.merge([*cv2.split(person.texture), cv2.convertScaleAbs(person.alpha, alpha=255)])
    out = []
    for k in range(n):
        frame = shot.scene.copy()
        moved = rgba
        if k > 0:
            du = depth * math.sin(yaw[k]) + head * (ru * (math.cos(roll[k]) - 1)
                                                   - rv * math.sin(roll[k]))
            dv = -depth * math.sin(pitch[k]) + head * (ru * math.sin(roll[k])
                                                      + rv * (math.cos(roll[k]) - 1))
            du += faces[k, 0] * (corners[1] - corners[0])
            dv += -0.6 * abs(faces[k, 0]) * (corners[0] + corners[1]) \
                + abs(faces[k, 1]) * lip - faces[k, 2] * brows
            if k == blink_at:
                dv += closure * 0.18 * e * lids
            shift = head + (1 - head) * 0.4
            dx = du * f.ux[0] + dv * f.vy[0] + shift * tx[k]
            dy = du * f.ux[1] + dv * f.vy[1] + shift * ty[k]
            map_x = full_x - cv2.resize(dx.astype(np.float32), (bw, bh))
            map_y = full_y - cv2.resize(dy.astype(np.float32), (bw, bh))
            moved = cv2.remap(rgba, map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        alpha = moved[..., 3].astype(np.float32) * (1.0 / 255.0)
        blend_into(frame, cv2.cvtColor(moved, cv2.COLOR_BGRA2BGR), alpha, *person.origin)
        out.append(capture(frame, rng, cam.noise, cam.flicker))
    return out


@register_burst("bona_fide", family="bona_fide")
def bona_fide(shot: Shot, *, yaw_deg: Degrees = 3.0, pitch_deg: Degrees = 2.0,
              roll_deg: Degrees = 1.0,
              shift_px: Annotated[float, Field(ge=0.0, le=40.0)] = 3.0,
              still: Fraction = 0.1, blink: Fraction = 0.3,
              expression: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0) -> list[np.ndarray]:
    """A live student at the gate: a head that turns and shifts a little and blinks.

    Real: a person standing still for half a second still sways a few pixels, turns
    the head a degree or few, blinks, moves the mouth; parts nearer the camera (the
    nose) move more than far ones (the ears), so no single plane explains the motion.
    Simulated: head, neck and shoulders of the photo under a soft mask on the still
    scene; an ellipsoid head with a nose and eye sockets turns by ``yaw_deg``,
    ``pitch_deg`` and ``roll_deg`` per half second (a point at depth z moves by
    z sin(angle)), the whole person drifts ``shift_px`` (for a 140 px face), the
    shoulders less than the head; small mouth and brow moves of ``expression`` px,
    a half-to-full blink in one frame with probability ``blink``; with probability
    ``still`` the student barely moves at all (a twentieth of that, well under a pixel).
    """
    return live_frames(shot, yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg,
                       shift_px=shift_px, still=still, blink=blink, expression=expression)
