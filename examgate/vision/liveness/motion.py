"""Multi-frame cue: is the face's motion the motion of a plane?

Physics. A printed photo or a phone screen is flat, and the image of a moving
plane under a pinhole camera is one homography: every point of it, whatever
the motion (tilt, turn, shake), lands where a single 3x3 projective map says,
up to tracking noise. A real head is not flat: the nose tip is some 4 cm in
front of the cheeks and the ears 8-10 cm behind it. Turning the head by a few
degrees moves those points by different amounts than any plane could
(parallax), and even a pure sideways shift moves near points more than far
ones (by about relief / distance, 5-8 % at half a metre). So we track points
on the face from the primary frame into each burst frame, fit the best
homography (RANSAC, to drop gross tracking failures), warp the burst frame
back by it and track again: what still moves is what no plane explains. Depth
varies smoothly over a face, tracking noise does not, so each point's residual
is averaged with its neighbours' before the 90th percentile is taken
(``parallax_px``: parallax sits on a minority of points, the nose above all).
Divided by how far the face moved it is the ``planarity`` ratio: noise /
motion for a plane, a sizeable fraction for a head that turned. Face points
come from the inner face only (brows to lips): at the face's outline a real
background, or a cut-out print's edge over the attacker's own head, would
show parallax of its own.

Measured on rendered scenes (a face photo on a head-shaped depth map or on a
plane, 50 cm from a 667-px camera, sensor noise and JPEG each frame; scale
below): planes shifted or tilted by 2-9 px give planarity 0.006-0.034 and a
residual of 0.03-0.05 px (0.05-0.15 px for the project's rendered hand-held
and cut-out prints, with sheen and halftone); heads turning 1-3 degrees give
0.05-0.19 and 0.16-0.28 px (0.27-0.78 px for the project's rendered live
bursts), 6-15 degrees 0.06-0.2 and 0.5-3 px; heads that only shift sideways
give 0.014-0.031 and 0.04-0.1 px, no different from a plane at that noise. So
the fusion calls motion live only on a residual above tracking noise, planar
only on a very low ratio after enough motion, and neither in between.

How large is tracking noise? It depends on the images (a defocused print's
halftone tracks worse than skin; a shaken one blurs), so it is measured in the
same images: each stabilised point is tracked back again, and the median
forward-backward disagreement is the noise of that frame. ``parallax_snr`` is
the residual over it. On the project's rendered bursts, planes (prints and
screens, held still, hand-held or shaken, cut out or not) give 3-16 (90 % of
them; 28 at most) and heads turning 27-150 (the same share): parallax stands
far above the noise, a plane's residual does not. A noisier real camera
lowers a head's ratio too; that sends students to a second look or a
proctor, never an attack through.

Points in a ring around the face (sides and top, beyond the hair; not below
the chin, where the neck and shoulders move with the body) answer a second
question: when the face moves, does its surround move with it (the margin of
a print or the rest of a screen held up to the camera) or stay put (a real
background)? ``surround_coherence`` is the fraction that move with the face.

Everything is measured on a grey crop around the face scaled so that the face
box is :data:`FACE_PX` wide, and reported in pixels of that scale, so the
operating points do not depend on the camera's resolution or distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from examgate.vision.liveness.geometry import (
    clip_box,
    ellipse_mask,
    face_side,
    resize_by,
    scaled_box,
    shift_box,
    to_grey,
)
from examgate.vision.types import Detection

FACE_PX = 120.0
"""Face box width, in pixels, of the scale the motion cue works and reports at."""
RING_INNER, RING_OUTER = 1.5, 2.4  # surround ring, in face boxes about the centre
MARGIN = 0.2  # extra crop, in face widths, for the face moving during the burst
FACE_REGION = 0.7  # face points: the inner face (brows to lips), where occluding edges are rare
FACE_POINTS, RING_POINTS = 60, 40  # corners to track
MIN_FACE_POINTS, MIN_RING_POINTS = 12, 8
NOISE_FLOOR_PX = 0.005  # forward-backward error below this is taken as this (noise-free images)
FB_MAX_PX = 0.7  # forward-backward tracking error above which a track is dropped
RANSAC_PX = 1.5
RESIDUAL_PERCENTILE = 90.0  # parallax lives on a minority of points (nose, face edges)
NEIGHBOURS = 6  # residuals averaged over this many nearest points (the point included)
WIN, FINE_WIN = (11, 11), (13, 13)  # tracking windows (coarse-to-fine pass; stabilised), px
SHADING_PX = 15  # box size of the shading removed before tracking, px
LEVELS = 3  # pyramid levels: follows up to ~11 * 2**3 px of motion
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)


@dataclass(frozen=True)
class MotionCue:
    """What the face's motion across the burst showed (pixels at :data:`FACE_PX`)."""

    frames_used: int  # burst frames with enough tracked face points
    motion_px: float  # median face-point displacement, the largest over frames
    planarity: float  # parallax / motion: ~noise / motion for a plane, larger for a head
    parallax_px: float  # what no homography explains (90th percentile of face points)
    parallax_snr: float  # parallax / the tracker's own forward-backward disagreement
    judged: bool  # some frame moved at least min_motion_px
    surround_coherence: float | None  # share of ring points moving with the face; None: unknown


@dataclass(frozen=True)
class _FrameFit:
    motion: float
    parallax: float
    noise: float  # median forward-backward error of the stabilised face points
    with_face: int  # ring points that follow the face's homography
    static: int  # ring points that did not move


def _lk(g0: np.ndarray, g1: np.ndarray, pts: np.ndarray, levels: int,
        win: tuple[int, int] = WIN) -> tuple[np.ndarray, np.ndarray]:
    # (OpenCV's Python binding takes images only, not prebuilt pyramids.)
    p1, st, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]  # nextPts=None
        g0, g1, pts, None, winSize=win, maxLevel=levels, criteria=_CRITERIA)
    return p1.reshape(-1, 1, 2), st.reshape(-1) == 1


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def _homography(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    # USAC's fast variant: RANSAC with local optimisation, seeded (deterministic), ~5x faster.
    h, _ = cv2.findHomography(a, b, cv2.USAC_FAST, RANSAC_PX)
    return h if h is not None and np.all(np.isfinite(h)) else None


def _grey_scaled(frame: np.ndarray, crop: tuple[int, int, int, int], scale: float) -> np.ndarray:
    x1, y1, x2, y2 = crop
    return resize_by(to_grey(frame[y1:y2, x1:x2]), scale)


def _detail(grey: np.ndarray) -> np.ndarray:
    """``grey`` less its shading (detail finer than :data:`SHADING_PX` only).

    Shading that changes between frames (a sheen sliding over glossy paper, a
    flickering exposure) is not motion, but it pulls a brightness-matching
    tracker along by a fraction of a pixel: as much as the parallax sought.
    Only the fine, stabilised tracking uses this; the coarse-to-fine first pass
    needs the coarse structure it removes.
    """
    shading = cv2.blur(grey, (SHADING_PX, SHADING_PX))
    return cv2.addWeighted(grey, 1.0, shading, -1.0, 128.0)


class _Primary:
    """The primary frame's grey crop, its face window and the points to follow."""

    def __init__(self, grey: np.ndarray, box: tuple[float, float, float, float]) -> None:
        self.grey = grey
        h, w = grey.shape[:2]
        # The face window: where parallax is measured after stabilising (small, so cheap).
        self.win = clip_box(scaled_box(box, 1.15), grey.shape)
        wx1, wy1, wx2, wy2 = self.win
        window = grey[wy1:wy2, wx1:wx2]
        self.window = _detail(window)
        face_mask = ellipse_mask((wy2 - wy1, wx2 - wx1), shift_box(box, wx1, wy1), FACE_REGION)
        face = _corners(window, face_mask, FACE_POINTS) + (wx1, wy1)
        # The ring: sides and top of the surround, not below the chin. Corners are sought
        # in its bounding rows only (half the cost of the whole crop).
        ox1, oy1, ox2, _ = clip_box(scaled_box(box, RING_OUTER), grey.shape)
        oy2 = int(np.clip(round(box[3]), oy1, h))
        ring_mask = np.zeros((oy2 - oy1, w), np.uint8)
        ring_mask[:, ox1:ox2] = 255
        ix1, iy1, ix2, iy2 = clip_box(scaled_box(box, RING_INNER), grey.shape)
        ring_mask[max(iy1 - oy1, 0):max(iy2 - oy1, 0), ix1:ix2] = 0
        ring = _corners(grey[oy1:oy2], ring_mask, RING_POINTS) + (0, oy1)
        self.n_face = len(face)
        self.pts = np.concatenate([face, ring]).astype(np.float32).reshape(-1, 1, 2)


def _corners(grey: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    if grey.size == 0 or not mask.any():
        return np.zeros((0, 2), np.float32)
    pts = cv2.goodFeaturesToTrack(grey, maxCorners=count, qualityLevel=0.01, minDistance=4,
                                  mask=mask, blockSize=5)
    return np.zeros((0, 2), np.float32) if pts is None else pts.reshape(-1, 2)


def _parallax(ref: _Primary, g1: np.ndarray, h: np.ndarray, face0: np.ndarray
              ) -> tuple[float, float] | None:
    """What the plane fitted to the face leaves unexplained, measured after undoing it, and
    how much the tracker disagreed with itself doing so (forward-backward, median).

    Tracking a patch that also grows or shears (a face coming nearer) biases a
    tracker by a fraction of a pixel, which would read as parallax. So the
    burst frame is first warped back onto the primary by the fitted homography
    (only the face window); what still moves in that stabilised image is what
    no plane explains, small enough to track without that bias. Tracking the
    points back again measures the noise of that tracking in these very images
    (blur, halftone, sensor noise, JPEG).
    """
    wx1, wy1, wx2, wy2 = ref.win
    to_window = np.array([[1.0, 0.0, wx1], [0.0, 1.0, wy1], [0.0, 0.0, 1.0]])
    stable = _detail(cv2.warpPerspective(g1, h @ to_window, (wx2 - wx1, wy2 - wy1),
                                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_REPLICATE))
    pts = (face0 - (wx1, wy1)).astype(np.float32).reshape(-1, 1, 2)
    p1, ok = _lk(ref.window, stable, pts, 0, FINE_WIN)
    back, ok_back = _lk(stable, ref.window, p1, 0, FINE_WIN)
    fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
    keep = ok & ok_back & (fb < FB_MAX_PX)
    if int(keep.sum()) < MIN_FACE_POINTS:
        return None
    a, b = pts.reshape(-1, 2)[keep], p1.reshape(-1, 2)[keep]
    h2 = _homography(a, b)
    if h2 is None:
        return None
    residual = b - _project(h2, a)
    noise = float(np.median(fb[keep]))
    # Depth varies smoothly over a face, so parallax is a smooth field; tracking noise is
    # independent from point to point. Averaging each residual with its nearest
    # neighbours keeps the one and shrinks the other (by ~sqrt(NEIGHBOURS)).
    dist = np.linalg.norm(a[:, None, :] - a[None, :, :], axis=2)
    near = np.argsort(dist, axis=1)[:, :NEIGHBOURS]
    field = residual[near].mean(axis=1)
    return float(np.percentile(np.linalg.norm(field, axis=1), RESIDUAL_PERCENTILE)), noise


def _fit_frame(ref: _Primary, g1: np.ndarray, min_motion_px: float) -> _FrameFit | None:
    """Track into one burst frame (grey, scaled like the primary); None when too few
    face points survive or no homography fits."""
    p1, ok = _lk(ref.grey, g1, ref.pts, LEVELS)
    p0, p1 = ref.pts.reshape(-1, 2), p1.reshape(-1, 2)
    n = ref.n_face
    fok, rok = ok[:n], ok[n:]
    face0, face1 = p0[:n][fok], p1[:n][fok]
    if len(face0) < MIN_FACE_POINTS:
        return None
    h = _homography(face0, face1)
    fitted = None if h is None else _parallax(ref, g1, h, face0)
    if h is None or fitted is None:
        return None
    parallax, noise = fitted
    motion = float(np.median(np.linalg.norm(face1 - face0, axis=1)))
    ring0, ring1 = p0[n:][rok], p1[n:][rok]
    with_face = static = 0
    if motion >= min_motion_px and len(ring0) >= MIN_RING_POINTS:
        # Moving with the face and standing still differ by ~motion px; call a ring
        # point by whichever explains it within a quarter of that.
        tol = max(0.5, 0.25 * motion)
        r_face = np.linalg.norm(_project(h, ring0) - ring1, axis=1)
        r_still = np.linalg.norm(ring1 - ring0, axis=1)
        with_face = int(np.sum((r_face < tol) & (r_face < r_still)))
        static = int(np.sum((r_still < tol) & (r_still <= r_face)))
    return _FrameFit(motion, parallax, noise, with_face, static)


def motion_cue(primary: np.ndarray, face: Detection, burst: Sequence[np.ndarray], *,
               min_motion_px: float) -> MotionCue | None:
    """Track the face from ``primary`` into each frame of ``burst`` (each the size of
    ``primary``); None when there is no burst or no frame could be tracked."""
    if not burst:
        return None
    scale = float(np.clip(FACE_PX / face_side(face), 0.05, 2.0))
    crop = clip_box(scaled_box(face.box, RING_OUTER + 2 * MARGIN), primary.shape)
    if crop[2] - crop[0] < 16 or crop[3] - crop[1] < 16:
        return None
    g0 = _grey_scaled(primary, crop, scale)
    # The crop may have been halved to a slightly different size: map the box exactly.
    sx, sy = g0.shape[1] / (crop[2] - crop[0]), g0.shape[0] / (crop[3] - crop[1])
    x1, y1, x2, y2 = face.box
    box = ((x1 - crop[0]) * sx, (y1 - crop[1]) * sy, (x2 - crop[0]) * sx, (y2 - crop[1]) * sy)
    unit = FACE_PX / (face_side(face) * sx)  # crop px -> px at a FACE_PX-wide face
    ref = _Primary(g0, box)
    if ref.n_face < MIN_FACE_POINTS:
        return None
    fits: list[_FrameFit] = []
    for frame in burst:
        try:
            fit = _fit_frame(ref, _grey_scaled(frame, crop, scale), min_motion_px / unit)
        except cv2.error:
            continue
        if fit is not None:
            fits.append(fit)
    return _summarise(fits, min_motion_px, unit)


def _summarise(fits: list[_FrameFit], min_motion_px: float, unit: float) -> MotionCue | None:
    """One cue from the frames' fits; ``unit`` rescales crop pixels to :data:`FACE_PX`."""
    if not fits:
        return None
    judged = [f for f in fits if f.motion * unit >= min_motion_px]
    # Judge on the frames that moved enough; with none, report the one that moved most.
    pool = judged or [max(fits, key=lambda f: f.motion)]
    ratio = float(np.median([f.parallax / max(f.motion, 1e-3) for f in pool]))
    with_face = sum(f.with_face for f in judged)
    seen = with_face + sum(f.static for f in judged)
    return MotionCue(frames_used=len(fits), motion_px=max(f.motion for f in fits) * unit,
                     planarity=ratio,
                     parallax_px=float(np.median([f.parallax for f in pool])) * unit,
                     parallax_snr=float(np.median([f.parallax / max(f.noise, NOISE_FLOOR_PX)
                                                   for f in pool])),
                     judged=bool(judged),
                     surround_coherence=with_face / seen if seen >= MIN_RING_POINTS else None)
