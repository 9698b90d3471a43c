"""Screen attacks: the photo, or a video of the student, shown on a phone or a tablet."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field

from examgate.augment.bursts_base import Camera, CameraParams, Shot, register_burst
from examgate.augment.bursts_hands import Hand, behind, grips, skin_tone
from examgate.augment.bursts_live import live_frames
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
    rounded_box,
    specular,
)
from examgate.augment.bursts_scene import capture, flat, gate_scene

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Cm = Annotated[float, Field(gt=0.0, le=100.0)]
Mm = Annotated[float, Field(ge=0.0, le=50.0)]
Motion = Annotated[float, Field(ge=0.0, le=5.0)]
Ppi = Annotated[float, Field(ge=50.0, le=1000.0)]
Hz = Annotated[float, Field(ge=0.0, le=2000.0)]
Kelvin = Annotated[float, Field(ge=2500.0, le=12000.0)]
Gamma = Annotated[float, Field(ge=0.5, le=2.0)]
Gain = Annotated[float, Field(ge=0.3, le=2.0)]
Px = Annotated[float, Field(ge=0.0, le=10.0)]
# Share of the screen's width a face fills in a replayed selfie-style video.
_VIDEO_FACE = 0.55


@dataclass(frozen=True)
class Screen:
    """A device's geometry and how its screen looks to the gate camera."""

    width_cm: float
    height_cm: float
    bezel_mm: float
    bezel_visible: bool
    ppi: float
    brightness: float
    gamma: float
    color_temp_k: float
    black: float
    moire: float
    banding: float
    pwm_hz: float
    row_time_us: float
    reflection: float
    defocus: float

    def lut(self) -> np.ndarray:
        """Content (camera-referred BGR) -> what the camera records of the lit screen."""
        x = np.linspace(0.0, 1.0, 256)[:, None] ** self.gamma
        # White balance set for about 5500 K: a cooler screen records bluish.
        d = (self.color_temp_k - 5500.0) / 1000.0
        balance = np.array([math.exp(0.05 * d), 1.0, math.exp(-0.05 * d)])
        y = (self.black + (self.brightness - self.black) * x) * balance
        return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3)


@dataclass(frozen=True)
class Device:
    """A device at its distance: the plane (bezel and screen), where the screen is in its
    texture, the content's size in its own pixels, and the sub-pixel grid over the screen."""

    plane: Plane
    screen_box: tuple[int, int, int, int]   # x0, y0, x1, y1 in texels
    content_px: tuple[int, int]             # content size in its own pixels (w, h)
    face: tuple[float, float]               # where the face goes, fractions of the screen
    z: float
    grid: np.ndarray
    poses: list[Pose]


def _device(shot: Shot, screen: Screen, cm_per_content_px: float, face_cm: float, *,
            motion: float, tilt_deg: float) -> Device:
    """The device, held where a face ``face_cm`` wide at its screen's centre is ``face_px``
    wide in the frame, and its poses over the burst.

    With the bezel out of view the screen (a monitor, in effect) is grown until it
    fills the view at every pose.
    """
    cam = shot.camera
    z = cam.focal * face_cm / cam.params.face_px
    base = facing(cam, shot.face_at, z, shot.rng, tilt_deg)
    poses = hand_poses(shot.rng, base, shot.frames, cam.params.interval_ms / 1000, motion)
    sw, sh = screen.width_cm, screen.height_cm
    face = (0.5, 0.5)  # where the face is on the screen, as fractions of its size
    if not screen.bezel_visible:
        left, top, right, bottom = reach(cam, poses)
        sw, sh = right - left, bottom - top
        face = (-left / sw, -top / sh)
    texel = z / cam.focal / TEXELS_PER_PX
    bezel = screen.bezel_mm / 10.0 if screen.bezel_visible else 0.0
    bw, bh = round((sw + 2 * bezel) / texel), round((sh + 2 * bezel) / texel)
    x0, y0 = round(bezel / texel), round(bezel / texel)
    box = (x0, y0, x0 + round(sw / texel), y0 + round(sh / texel))
    radius = round(0.12 * (sw + 2 * bezel) / texel) if screen.bezel_visible else 0
    if screen.bezel_visible:  # black glass in a thin metal or plastic rim
        body = flat((bh, bw), (62, 62, 68))
        inner = rounded_box(bw, bh, radius, inset=max(1, round(0.08 / texel)))
        cv2.fillPoly(body, [np.rint(inner * 16).astype(np.int32)], (17, 17, 19),
                     cv2.LINE_AA, 4)
    else:
        body = flat((bh, bw), (17, 17, 19))
    content_px = (round(sw / cm_per_content_px), round(sh / cm_per_content_px))
    anchor = (box[0] + face[0] * (box[2] - box[0]), box[1] + face[1] * (box[3] - box[1]))
    # The sub-pixel stripes, reduced to the beat they leave on the sensor.
    beat = alias(screen.ppi / 2.54 * z / cam.focal)
    freq = (1.0 - beat) / TEXELS_PER_PX
    pattern = grid((box[3] - box[1], box[2] - box[0]), (freq, freq),
                   (screen.moire, 0.5 * screen.moire), (4 * np.pi / 3, 2 * np.pi / 3, 0.0))
    return Device(Plane(body, rounded_box(bw, bh, radius), texel, anchor), box, content_px,
                  face, z, pattern, poses)


def _replay(shot: Shot, screen: Screen, device: Device, content: Callable[[int], np.ndarray],
            *, fingers: bool, attacker: bool) -> list[np.ndarray]:
    """Show ``content(k)`` (content pixels, BGR) on ``device`` held by hand in frame k."""
    rng, cam, poses = shot.rng, shot.camera, device.poses
    if attacker and screen.bezel_visible:  # else the screen hides them entirely
        shot = behind(shot, device.z + rng.uniform(25.0, 35.0), (0.3, 0.5))
    plane = device.plane
    tw, th = plane.size
    held = grips(rng, tw, th, 1.8 / plane.texel_cm, sides=int(rng.integers(1, 3)),
                 reach=(-0.25, 0.15), along=(0.55, 0.85)) if fingers and screen.bezel_visible \
        else []
    lut = screen.lut()
    x0, y0, x1, y1 = device.screen_box
    shade_for = _glass(shot, screen, poses, plane)
    homs = [homography(cam, plane, pose) for pose in poses]
    hand = Hand(held, skin_tone(rng), homs[0], cam.size)
    lit_plane = replace(plane, texture=plane.texture.copy())  # the screen is redrawn in place
    before = None
    out = []
    for k, hom in enumerate(homs):
        shown = content(k)
        if shown is not before:
            blur = screen.defocus * TEXELS_PER_PX * shown.shape[1] / (x1 - x0)  # content px
            lit = cv2.LUT(shown, lut)
            if blur > 0.3:
                lit = cv2.GaussianBlur(lit, (0, 0), blur)
            lit = cv2.resize(lit, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            lit_plane.texture[y0:y1, x0:x1] = cv2.multiply(lit, device.grid, scale=1 / 255)
            before = shown
        frame = shot.scene.copy()
        hand.draw(frame, hom, front=False)
        draw_plane(frame, lit_plane, hom, shade_for(k))
        hand.draw(frame, hom, front=True)
        out.append(capture(frame, rng, cam.params.noise, cam.params.flicker))
    return out


def _glass(shot: Shot, screen: Screen, poses: list[Pose], plane: Plane) -> Lighting:
    """Per-frame light of the screen: PWM bands rolling down the rows as the rolling
    shutter reads them, and a ceiling light's reflection in the glass."""
    rng, cam = shot.rng, shot.camera
    phase0 = rng.uniform(0.0, 1.0)
    times = np.arange(len(poses)) * cam.params.interval_ms / 1000 \
        + rng.normal(0.0, 0.002, len(poses))  # frame timing jitters by milliseconds
    width_px = plane.size[0] / TEXELS_PER_PX
    tube = (max(0.5 * width_px, 20.0), max(0.06 * width_px, 4.0))
    start = shot.face_at + rng.uniform([-0.6, -1.6], [0.6, -0.4]) * cam.params.face_px
    angle = rng.uniform(-25, 25)

    def shade_for(k: int) -> Shade:
        spot_at = specular(cam, poses[0], poses[k], start)

        def shade(layer: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> np.ndarray:
            h, w = layer.shape[:2]
            if screen.banding > 0 and screen.pwm_hz > 0:
                rows = y0 + np.arange(h)
                cycles = phase0 + screen.pwm_hz * (times[k] + rows * screen.row_time_us * 1e-6)
                band = 1.0 - screen.banding * 0.5 * (1.0 - np.cos(2 * np.pi * cycles))
                # One gain per row: multiply the rows as (h, 3w) single-channel images.
                column = cv2.convertScaleAbs(band[:, None], alpha=255.0)
                gains = np.ascontiguousarray(np.broadcast_to(column, (h, 3 * w)))
                layer = cv2.multiply(layer.reshape(h, 3 * w), gains, scale=1 / 255)
                layer = layer.reshape(h, w, 3)
            if screen.reflection > 0:
                spot = glow(alpha.shape, x0, y0, spot_at, tube, angle, flat=3.0)
                light = cv2.convertScaleAbs(spot + 0.06, alpha=screen.reflection * 255.0)
                layer = cv2.add(layer, cv2.cvtColor(light, cv2.COLOR_GRAY2BGR))
            return layer

        return shade

    return shade_for


def _photo_replay(shot: Shot, screen: Screen, zoom: float, motion: float, tilt_deg: float,
                  fingers: bool, attacker: bool) -> list[np.ndarray]:
    """The enrollment photo zoomed to ``zoom`` x the screen's width, face centred."""
    photo = shot.photo
    ph, pw = photo.shape[:2]
    cm_per_px = zoom * screen.width_cm / pw
    centre = shot.landmarks.mean(axis=0)
    device = _device(shot, screen, cm_per_px, 2.3 * shot.eye_distance * cm_per_px,
                     motion=motion, tilt_deg=tilt_deg)
    cw, chh = device.content_px
    left = round(device.face[0] * cw - centre[0])
    top = round(device.face[1] * chh - centre[1])
    if screen.bezel_visible:  # a photo viewer: black where the photo does not reach
        shown = np.zeros((chh, cw, 3), np.uint8)
        sx0, sy0 = max(-left, 0), max(-top, 0)
        dx0, dy0 = max(left, 0), max(top, 0)
        w, h = min(pw - sx0, cw - dx0), min(ph - sy0, chh - dy0)
        shown[dy0:dy0 + h, dx0:dx0 + w] = photo[sy0:sy0 + h, sx0:sx0 + w]
    else:
        grown = extend(photo, left, top, cw - pw - left, chh - ph - top)
        shown = np.ascontiguousarray(grown[max(-top, 0):max(-top, 0) + chh,
                                           max(-left, 0):max(-left, 0) + cw])
    return _replay(shot, screen, device, lambda k: shown, fingers=fingers, attacker=attacker)


_DOC = """

    Real: the photo shown full-screen and held up to the camera. The screen glows
    bluer than the room (``color_temp_k``), its tone curve differs (``gamma``,
    ``brightness``, a ``black`` level that is never zero); its sub-pixel grid
    (``ppi``) beats against the sensor's as colour-fringed moire that shifts as the
    device moves; PWM dimming at ``pwm_hz``, read row by row by the rolling shutter
    (``row_time_us``), leaves horizontal bands that drift between frames; the glass
    mirrors a ceiling light (``reflection``); a hand moves it rigidly (``motion``).
    Simulated: all of these, with the device ``width_cm`` x ``height_cm`` in a
    ``bezel_mm`` dark bezel (or filling the view: ``bezel_visible`` off), the photo
    zoomed ``zoom`` x the screen width, thumbs over the edges (``fingers``) and the
    holder's silhouette an arm's length behind (``attacker``).
    """


@register_burst("phone_replay", family="screen")
def phone_replay(shot: Shot, *, bezel_visible: bool = True, fingers: bool = True,
                 attacker: bool = True, width_cm: Cm = 6.8, height_cm: Cm = 14.5,
                 bezel_mm: Mm = 4.0, ppi: Ppi = 460.0, zoom: Annotated[float, Field(
                     ge=0.5, le=4.0)] = 1.6, motion: Motion = 1.0,
                 tilt_deg: Annotated[float, Field(ge=0.0, le=40.0)] = 10.0,
                 brightness: Gain = 1.05, gamma: Gamma = 1.15, color_temp_k: Kelvin = 7500.0,
                 black: Fraction = 0.03, moire: Fraction = 0.3, banding: Fraction = 0.1,
                 pwm_hz: Hz = 240.0, row_time_us: Annotated[float, Field(ge=1.0, le=200.0)]
                 = 30.0, reflection: Fraction = 0.25, defocus: Px = 0.7) -> list[np.ndarray]:
    """The photo on a phone held up to the camera (OLED phone: PWM-dimmed, dense pixels)."""
    screen = Screen(width_cm=width_cm, height_cm=height_cm, bezel_mm=bezel_mm,
                     bezel_visible=bezel_visible, ppi=ppi, brightness=brightness, gamma=gamma,
                     color_temp_k=color_temp_k, black=black, moire=moire, banding=banding,
                     pwm_hz=pwm_hz, row_time_us=row_time_us, reflection=reflection,
                     defocus=defocus)
    return _photo_replay(shot, screen, zoom, motion, tilt_deg, fingers, attacker)


@register_burst("tablet_replay", family="screen")
def tablet_replay(shot: Shot, *, bezel_visible: bool = True, fingers: bool = True,
                  attacker: bool = True, width_cm: Cm = 15.0, height_cm: Cm = 20.0,
                  bezel_mm: Mm = 10.0, ppi: Ppi = 264.0, zoom: Annotated[float, Field(
                      ge=0.5, le=4.0)] = 1.0, motion: Motion = 0.8,
                  tilt_deg: Annotated[float, Field(ge=0.0, le=40.0)] = 8.0,
                  brightness: Gain = 1.0, gamma: Gamma = 1.1, color_temp_k: Kelvin = 7000.0,
                  black: Fraction = 0.05, moire: Fraction = 0.3, banding: Fraction = 0.06,
                  pwm_hz: Hz = 120.0, row_time_us: Annotated[float, Field(ge=1.0, le=200.0)]
                  = 30.0, reflection: Fraction = 0.25, defocus: Px = 0.6) -> list[np.ndarray]:
    """The photo on a tablet held up to the camera (LCD: raised blacks, coarser pixels)."""
    screen = Screen(width_cm=width_cm, height_cm=height_cm, bezel_mm=bezel_mm,
                     bezel_visible=bezel_visible, ppi=ppi, brightness=brightness, gamma=gamma,
                     color_temp_k=color_temp_k, black=black, moire=moire, banding=banding,
                     pwm_hz=pwm_hz, row_time_us=row_time_us, reflection=reflection,
                     defocus=defocus)
    return _photo_replay(shot, screen, zoom, motion, tilt_deg, fingers, attacker)


phone_replay.__doc__ = (phone_replay.__doc__ or "") + _DOC
tablet_replay.__doc__ = (tablet_replay.__doc__ or "") + _DOC

# The screens a video is replayed on; the look is overridden per burst.
_DEVICES = {
    "phone": Screen(width_cm=6.8, height_cm=14.5, bezel_mm=4.0, bezel_visible=True, ppi=460.0,
                    brightness=1.05, gamma=1.15, color_temp_k=7500.0, black=0.03, moire=0.3,
                    banding=0.1, pwm_hz=240.0, row_time_us=30.0, reflection=0.25, defocus=0.7),
    "tablet": Screen(width_cm=15.0, height_cm=20.0, bezel_mm=10.0, bezel_visible=True,
                     ppi=264.0, brightness=1.0, gamma=1.1, color_temp_k=7000.0, black=0.05,
                     moire=0.3, banding=0.06, pwm_hz=120.0, row_time_us=30.0, reflection=0.25,
                     defocus=0.6),
}


@register_burst("screen_replay_video", family="screen")
def screen_replay_video(shot: Shot, *, device: Literal["phone", "tablet"] = "phone",
                        bezel_visible: bool = True, fingers: bool = True, attacker: bool = True,
                        head_motion: Annotated[float, Field(ge=0.0, le=3.0)] = 1.0,
                        motion: Motion = 1.0,
                        tilt_deg: Annotated[float, Field(ge=0.0, le=40.0)] = 10.0,
                        brightness: Gain = 1.05, gamma: Gamma = 1.15, moire: Fraction = 0.3,
                        banding: Fraction = 0.1, reflection: Fraction = 0.25,
                        defocus: Px = 0.7) -> list[np.ndarray]:
    """A recorded video of the student replayed on a phone or tablet, frame k in frame k.

    Real: a clip of the student (from social media, or filmed covertly) played on
    a screen; the face inside moves like a live one, but every screen artefact of
    :func:`phone_replay` is there too. Simulated: a ``bona_fide`` burst of the photo
    at about the resolution the camera sees the screen at, recorded in front of
    another wall (the student's head motion scaled by ``head_motion``), the face
    filling about half the screen's width; its frame k shown in frame k on the
    ``device`` (sizes, pixel density, PWM and colour from the device; the other
    screen parameters as in :func:`phone_replay`).
    """
    screen = replace(_DEVICES[device], bezel_visible=bezel_visible, brightness=brightness,
                     gamma=gamma, moire=moire, banding=banding, reflection=reflection,
                     defocus=defocus)
    cam = shot.camera.params
    content_w = max(round(cam.face_px / _VIDEO_FACE), 32)
    cm_per_px = screen.width_cm / content_w
    dev = _device(shot, screen, cm_per_px, _VIDEO_FACE * screen.width_cm, motion=motion,
                  tilt_deg=tilt_deg)
    vw, vh = dev.content_px
    # A screen grown past the view would want a huge video: record it no finer than the
    # gate camera sees it, and let the screen scale it up.
    fine = min(1.0, 0.8 * cam.width / vw, 0.8 * cam.height / vh)
    inner = CameraParams(width=max(round(vw * fine), 64), height=max(round(vh * fine), 64),
                         face_px=max(cam.face_px * fine, 30.0), placement=0.0, noise=1.5,
                         flicker=0.01, interval_ms=cam.interval_ms)
    recorded = replace(shot, camera=Camera(inner),
                       scene=gate_scene((inner.width, inner.height), shot.rng),
                       face_at=np.array(dev.face) * (inner.width, inner.height))
    clip = live_frames(recorded, yaw_deg=3.0 * head_motion, pitch_deg=2.0 * head_motion,
                       roll_deg=1.0 * head_motion, shift_px=3.0 * head_motion)
    return _replay(shot, screen, dev, lambda k: clip[k], fingers=fingers, attacker=attacker)
