"""Print attacks: the enrollment photo on paper, on a stand, in a hand, or cut out."""

from __future__ import annotations

import math
from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.base import FaceFrame
from examgate.augment.bursts_base import Shot, register_burst
from examgate.augment.bursts_hands import Grip, Hand, behind, grips, skin_tone
from examgate.augment.bursts_plane import (
    TEXELS_PER_PX,
    Lighting,
    Plane,
    Pose,
    Shade,
    alias,
    draw_plane,
    extend,
    facing,
    glow,
    grid,
    hand_poses,
    homography,
    reach,
    specular,
    stand_poses,
)
from examgate.augment.bursts_scene import capture, flat

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Cm = Annotated[float, Field(gt=0.0, le=200.0)]
Degrees = Annotated[float, Field(ge=0.0, le=40.0)]
Px = Annotated[float, Field(ge=0.0, le=10.0)]
Motion = Annotated[float, Field(ge=0.0, le=5.0)]
Lpi = Annotated[float, Field(ge=50.0, le=300.0)]
# Warm white paper (BGR) and the warm cast of ink on it.
_PAPER = np.array([0.96, 1.0, 1.02], np.float32)
_INK = np.array([0.95, 1.0, 1.03], np.float32)


def print_look(photo: np.ndarray, *, saturation: float, black: float,
               paper_white: float) -> np.ndarray:
    """``photo`` as an inkjet or laser print shows it: lifted blacks, whites no brighter
    than the paper, less saturation, a warm cast."""
    grey = cv2.cvtColor(cv2.transform(photo, np.full((1, 3), 1 / 3)), cv2.COLOR_GRAY2BGR)
    dull = cv2.addWeighted(photo, saturation, grey, 1.0 - saturation, 0.0)
    levels = np.linspace(0.0, 1.0, 256)[:, None]
    tone = (black + (1.0 - black) * levels) * _INK * _PAPER * paper_white
    return cv2.LUT(dull, np.clip(tone * 255 + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3))


def _paper(look: dict[str, float]) -> np.ndarray:
    """The colour of blank paper under ``look``."""
    return print_look(np.full((1, 1, 3), 255, np.uint8), **look)[0, 0]


def _halftone(shape: tuple[int, int], z: float, focal: float, lpi: float,
              depth: float) -> np.ndarray:
    """The printer's dot screen at ``lpi``, reduced to the beat it leaves on the sensor."""
    cycles_per_px = lpi / 2.54 * z / focal
    freq = (1.0 - alias(cycles_per_px)) / TEXELS_PER_PX
    return grid(shape, (freq, freq), (depth, depth))


def _scale(shot: Shot, paper_w_cm: float, border_cm: float) -> tuple[float, float]:
    """(cm per photo pixel, distance in cm): the photo across the paper inside its border,
    held where its face is ``face_px`` wide."""
    cm_per_px = max(paper_w_cm - 2 * border_cm, 0.2 * paper_w_cm) / shot.photo.shape[1]
    face_cm = 2.3 * shot.eye_distance * cm_per_px
    return cm_per_px, shot.camera.focal * face_cm / shot.camera.params.face_px


def _sheet(shot: Shot, cm_per_px: float, z: float, *, paper_w_cm: float, paper_h_cm: float,
           border_cm: float, cover: tuple[float, float, float, float] | None,
           look: dict[str, float],
           halftone: float, lpi: float, defocus: float) -> Plane:
    """The printed sheet: the photo across the paper's width inside ``border_cm``, at its
    top. With ``cover`` (x0, y0, x1, y1 in cm about the face) the print is instead a
    poster that fills the view: the photo's surroundings carry on past its edges.
    """
    cam, photo = shot.camera, shot.photo
    ph, pw = photo.shape[:2]
    centre = shot.landmarks.mean(axis=0)
    if cover is None:
        printed = print_look(photo, **look)
        sheet = flat((round(paper_h_cm / cm_per_px), round(paper_w_cm / cm_per_px)),
                     _paper(look))
        margin = min(round(border_cm / cm_per_px), (sheet.shape[1] - pw) // 2)
        h = max(min(ph, sheet.shape[0] - margin), 0)
        sheet[margin:margin + h, margin:margin + pw] = printed[:h]
        anchor = centre + margin
    else:
        x0, y0, x1, y1 = (c / cm_per_px for c in cover)
        left, top = math.ceil(-x0 - centre[0]), math.ceil(-y0 - centre[1])
        right, bottom = math.ceil(x1 - (pw - centre[0])), math.ceil(y1 - (ph - centre[1]))
        sheet = print_look(extend(photo, left, top, right, bottom), **look)
        anchor = centre + [max(left, 0), max(top, 0)]
    texel_cm = z / cam.focal / TEXELS_PER_PX
    scale = cm_per_px / texel_cm
    blur = defocus * TEXELS_PER_PX / scale  # defocus px -> photo px
    if blur > 0.3:
        sheet = cv2.GaussianBlur(sheet, (0, 0), blur)
    size = (round(sheet.shape[1] * scale), round(sheet.shape[0] * scale))
    texture = cv2.resize(sheet, size, interpolation=cv2.INTER_LINEAR)
    if halftone > 0:
        texture = cv2.multiply(texture, _halftone(texture.shape[:2], z, cam.focal, lpi,
                                                  halftone), scale=1 / 255)
    th, tw = texture.shape[:2]
    outline = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float64)
    return Plane(texture, outline, texel_cm, (anchor[0] * scale, anchor[1] * scale))


def _paper_shade(shot: Shot, poses: list[Pose], glare: float) -> Lighting:
    """Per-frame relighting of a sheet: Lambertian light that follows its tilt and the
    broad sheen of a ceiling light on matte paper, moving twice as fast as it turns."""
    rng, cam = shot.rng, shot.camera
    light = rng.uniform(0.8, 0.95)
    size = cam.params.face_px * rng.uniform(1.2, 2.2)
    start = shot.face_at + rng.uniform(-1.2, 1.2, 2) * cam.params.face_px
    angle = rng.uniform(0, 180)

    def shade_for(k: int) -> Shade:
        gain = light * poses[k].lambert()
        spot_at = specular(cam, poses[0], poses[k], start)

        def shade(layer: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> np.ndarray:
            layer = cv2.convertScaleAbs(layer, alpha=gain)
            if glare > 0:
                spot = glow(alpha.shape, x0, y0, spot_at, (size, 0.7 * size), angle)
                sheen = cv2.convertScaleAbs(spot, alpha=glare * 255.0)
                layer = cv2.add(layer, cv2.cvtColor(sheen, cv2.COLOR_GRAY2BGR))
            return layer

        return shade

    return shade_for


def _print_burst(shot: Shot, plane: Plane, poses: list[Pose], glare: float,
                 grips: list[Grip] | None = None) -> list[np.ndarray]:
    cam = shot.camera
    shade_for = _paper_shade(shot, poses, glare)
    homs = [homography(cam, plane, pose) for pose in poses]
    hand = Hand(grips or [], skin_tone(shot.rng), homs[0], cam.size)
    out = []
    for k, hom in enumerate(homs):
        frame = shot.scene.copy()
        hand.draw(frame, hom, front=False)
        draw_plane(frame, plane, hom, shade_for(k))
        hand.draw(frame, hom, front=True)
        out.append(capture(frame, shot.rng, cam.params.noise, cam.params.flicker))
    return out


@register_burst("printed_photo_still", family="print")
def printed_photo_still(shot: Shot, *, edge_visible: bool = True, paper_w_cm: Cm = 21.0,
                        paper_h_cm: Cm = 29.7, border_cm: Cm = 1.0, tilt_deg: Degrees = 8.0,
                        jitter_px: Px = 0.5, paper_white: Fraction = 0.9,
                        saturation: Fraction = 0.8, black: Fraction = 0.08,
                        halftone: Fraction = 0.015, lpi: Lpi = 150.0, glare: Fraction = 0.15,
                        defocus: Px = 0.8) -> list[np.ndarray]:
    """A printed photo on a stand: an A4 sheet, tilted a little, all but motionless.

    Real: the enrollment photo printed on office paper and propped up in front of
    the camera; the paper edge is often in view, the print's colours are duller
    than skin, a ceiling light leaves a sheen. Simulated: the print look (blacks
    lifted to ``black``, saturation ``saturation``, warm ``paper_white`` paper),
    the photo across the sheet's width inside ``border_cm`` at its top, a dot
    screen of ``lpi`` lines per inch beating against the sensor (``halftone`` depth),
    a perspective tilt up to ``tilt_deg``, defocus ``defocus`` px, a glare of
    ``glare``, and rigid jitter of about ``jitter_px`` px from frame to frame (the
    stand vibrating). ``edge_visible`` off: a poster larger than the view.
    """
    cm_per_px, z = _scale(shot, paper_w_cm, border_cm)
    base = facing(shot.camera, shot.face_at, z, shot.rng, tilt_deg)
    poses = stand_poses(shot.rng, shot.camera, base, shot.frames, jitter_px)
    plane = _sheet(shot, cm_per_px, z, paper_w_cm=paper_w_cm, paper_h_cm=paper_h_cm,
                   border_cm=border_cm, cover=None if edge_visible else reach(shot.camera, poses),
                   look={"saturation": saturation, "black": black, "paper_white": paper_white},
                   halftone=halftone, lpi=lpi, defocus=defocus)
    return _print_burst(shot, plane, poses, glare)


@register_burst("printed_photo_handheld", family="print")
def printed_photo_handheld(shot: Shot, *, edge_visible: bool = True, fingers: bool = True,
                           attacker: bool = True, motion: Motion = 1.0,
                           paper_w_cm: Cm = 21.0, paper_h_cm: Cm = 29.7, border_cm: Cm = 1.0,
                           tilt_deg: Degrees = 10.0, paper_white: Fraction = 0.9,
                           saturation: Fraction = 0.8, black: Fraction = 0.08,
                           halftone: Fraction = 0.015, lpi: Lpi = 150.0, glare: Fraction = 0.15,
                           defocus: Px = 0.8) -> list[np.ndarray]:
    """A printed photo held up by hand: the sheet moves rigidly in 3D over the burst.

    Real: the attacker holds the print in front of the camera (and of their own
    face); the arm's wander moves the whole sheet at once, thumbs grip its edges.
    Simulated: the sheet of :func:`printed_photo_still` moved by a hand
    (:func:`~examgate.augment.bursts_plane.hand_poses`, scaled by ``motion``: about
    0.6 cm, 1.2 cm in depth and 2 degrees per half second), one homography per
    frame; with ``fingers`` skin-coloured thumbs over the paper's edges and
    the hand behind them, moving with it; with ``attacker`` the holder's head and
    shoulders behind the sheet, about an arm's length further back.
    """
    rng = shot.rng
    cm_per_px, z = _scale(shot, paper_w_cm, border_cm)
    base = facing(shot.camera, shot.face_at, z, rng, tilt_deg)
    poses = hand_poses(rng, base, shot.frames, shot.camera.params.interval_ms / 1000, motion)
    plane = _sheet(shot, cm_per_px, z, paper_w_cm=paper_w_cm, paper_h_cm=paper_h_cm,
                   border_cm=border_cm, cover=None if edge_visible else reach(shot.camera, poses),
                   look={"saturation": saturation, "black": black, "paper_white": paper_white},
                   halftone=halftone, lpi=lpi, defocus=defocus)
    if attacker and edge_visible:  # else the poster hides them entirely
        shot = behind(shot, z + rng.uniform(25.0, 35.0), (0.3, 0.5))
    held = None
    if fingers and edge_visible:
        tw, th = plane.size
        held = grips(rng, tw, min(th, plane.anchor[1] * 2.6), 1.8 / plane.texel_cm,
                     sides=int(rng.integers(1, 3)))
    return _print_burst(shot, plane, poses, glare, held)


@register_burst("cutout_print", family="print")
def cutout_print(shot: Shot, *, motion: Motion = 0.7, print_face_cm: Cm = 14.0,
                 gap_cm: Cm = 4.0, tilt_deg: Degrees = 6.0, paper_white: Fraction = 0.9,
                 saturation: Fraction = 0.8, black: Fraction = 0.08, halftone: Fraction = 0.015,
                 lpi: Lpi = 150.0, glare: Fraction = 0.12,
                 defocus: Px = 0.6) -> list[np.ndarray]:
    """A life-size print of the face, cut out along its outline, held before the attacker's face.

    Real: a paper mask; around it the attacker's own hair, ears and neck show,
    darker and larger than the print, and a white cut edge rims it. Simulated: the
    face oval printed ``print_face_cm`` wide (print look as in
    :func:`printed_photo_still`), a 1.5 mm paper rim, held ``gap_cm`` in front of a
    head-and-shoulders silhouette and moved rigidly by a hand (``motion``).
    """
    cam, photo, rng = shot.camera, shot.photo, shot.rng
    look = {"saturation": saturation, "black": black, "paper_white": paper_white}
    face = FaceFrame.from_landmarks(shot.landmarks)
    cm_per_px = print_face_cm / (2.3 * shot.eye_distance)
    z = cam.focal * print_face_cm / cam.params.face_px
    texel_cm = z / cam.focal / TEXELS_PER_PX
    scale = cm_per_px / texel_cm
    # Only the oval is printed (and a little paper round it): crop before scaling up.
    oval_at = face.to_image([[0.0, 0.55]])[0]
    half = 1.8 * face.scale
    x0, y0 = int(oval_at[0] - half), int(oval_at[1] - half)
    side = int(2 * half) + 1
    ph, pw = photo.shape[:2]
    grown = extend(photo, max(-x0, 0), max(-y0, 0), max(x0 + side - pw, 0),
                   max(y0 + side - ph, 0))
    crop = grown[max(y0, 0):max(y0, 0) + side, max(x0, 0):max(x0, 0) + side]
    sheet = print_look(crop, **look)
    if defocus > 0:
        sheet = cv2.GaussianBlur(sheet, (0, 0), max(defocus * TEXELS_PER_PX / scale, 0.3))
    size = (round(side * scale), round(side * scale))
    texture = cv2.resize(sheet, size, interpolation=cv2.INTER_LINEAR)
    if halftone > 0:
        texture = cv2.multiply(texture, _halftone(texture.shape[:2], z, cam.focal, lpi,
                                                  halftone), scale=1 / 255)
    centre = (oval_at - [x0, y0]) * scale
    axes = np.array([1.2, 1.55]) * face.scale * scale
    rim = 0.15 / texel_cm
    angle = math.degrees(math.atan2(face.ux[1], face.ux[0]))

    inner = np.zeros(texture.shape[:2], np.uint8)
    cv2.ellipse(inner, (round(centre[0] * 16), round(centre[1] * 16)),
                (round(axes[0] * 16), round(axes[1] * 16)), angle, 0, 360, 255, -1,
                cv2.LINE_AA, 4)
    paper = flat(texture.shape[:2], _paper(look))
    weight = inner.astype(np.float32) * (1.0 / 255.0)
    texture = cv2.blendLinear(texture, paper, weight, 1.0 - weight)
    ring = np.radians(np.arange(0, 360, 5))
    a, b, t = axes[0] + rim, axes[1] + rim, math.radians(angle)
    outline = centre + np.column_stack([a * np.cos(ring), b * np.sin(ring)]) \
        @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    anchor = (shot.landmarks.mean(axis=0) - [x0, y0]) * scale
    plane = Plane(texture, outline, texel_cm, (float(anchor[0]), float(anchor[1])))
    base = facing(cam, shot.face_at, z, rng, tilt_deg)
    poses = hand_poses(rng, base, shot.frames, cam.params.interval_ms / 1000, motion)
    shot = behind(shot, z + gap_cm, (0.05, 0.1))
    return _print_burst(shot, plane, poses, glare)
