"""Liveness cues on rendered scenes: a moving plane is planar, layers at two depths are not;
a frame around the face is edges, stripes on it are moire, a white patch on it is glare."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from examgate.core.settings import LivenessSettings
from examgate.vision.liveness import LivenessChecker
from examgate.vision.liveness.cues import edge_cue, glare_cue, moire_cue
from examgate.vision.liveness.motion import motion_cue
from examgate.vision.types import Detection

H, W = 480, 640
SETTINGS = LivenessSettings()


def _face(x1: float = 250, y1: float = 160, side: float = 150) -> Detection:
    """A face box of ``side`` px (landmarks roughly where a face has them)."""
    pts = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]) * side
    return Detection.from_arrays(np.array([x1, y1, x1 + side, y1 + side]), pts + (x1, y1), 0.9)


def _texture(seed: int, shape: tuple[int, int] = (H, W), blur: float = 2.0) -> np.ndarray:
    """Smooth random texture (BGR uint8): corners everywhere, no lines, no periodicity."""
    noise = np.random.default_rng(seed).uniform(0, 255, (*shape, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6) * 40 + 128
    return np.clip(smooth, 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int = 85) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.asarray(decoded)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _plane_burst() -> tuple[np.ndarray, list[np.ndarray]]:
    """A printed sheet filling the view, tilted and carried sideways: one homography a frame."""
    sheet = _texture(1)
    frames = []
    for k in range(1, 5):
        h = np.array([[1.0 + 0.004 * k, 0.01 * k, 4.0 * k],
                      [-0.005 * k, 1.0, 2.0 * k],
                      [1e-5 * k, -1e-5 * k, 1.0]])
        frames.append(_jpeg(cv2.warpPerspective(sheet, h, (W, H), flags=cv2.INTER_LINEAR,
                                                borderMode=cv2.BORDER_REFLECT)))
    return _jpeg(sheet), frames


def _layered_burst(face: Detection) -> tuple[np.ndarray, list[np.ndarray]]:
    """A still background, the face's outer part moving, its centre (nearer) moving twice
    as far: motion parallax no single plane can explain."""
    background, far, near = _texture(2), _texture(3), _texture(4)
    cx, cy = (int(v) for v in face.center)
    outer = np.zeros((H, W), np.float32)
    cv2.ellipse(outer, (cx, cy), (int(face.width * 0.6), int(face.height * 0.7)), 0, 0, 360, 1, -1)
    inner = np.zeros((H, W), np.float32)
    cv2.circle(inner, (cx, cy), int(face.width * 0.25), 1, -1)

    def render(d: float) -> np.ndarray:
        o = _shift(outer, 1.5 * d, 0.5 * d)[..., None]
        i = _shift(inner, 3.0 * d, 1.0 * d)[..., None]
        img = background * (1 - o) + _shift(far, 1.5 * d, 0.5 * d) * o
        img = img * (1 - i) + _shift(near, 3.0 * d, 1.0 * d) * i
        return _jpeg(np.clip(img, 0, 255).astype(np.uint8))

    return render(0.0), [render(float(k)) for k in range(1, 5)]


def test_a_moving_plane_is_planar_and_its_surround_moves_with_it() -> None:
    face = _face()
    primary, burst = _plane_burst()
    cue = motion_cue(primary, face, burst, min_motion_px=SETTINGS.min_motion_px)
    assert cue is not None and cue.frames_used == 4 and cue.judged
    assert cue.motion_px > 4.0
    assert cue.planarity < SETTINGS.planar_fire_below
    assert cue.parallax_px < SETTINGS.parallax_live_px
    assert cue.parallax_snr < SETTINGS.parallax_live_snr
    assert cue.surround_coherence is not None and cue.surround_coherence > 0.9

    evidence = LivenessChecker(None, SETTINGS).check(primary, face, burst)
    assert {"planar_motion", "surround_moves"} <= set(evidence.fired)
    assert evidence.score < SETTINGS.attack_threshold
    assert evidence.frames == 5 and not evidence.single_frame


def test_layers_at_two_depths_are_not_planar_and_the_background_stays() -> None:
    face = _face()
    primary, burst = _layered_burst(face)
    cue = motion_cue(primary, face, burst, min_motion_px=SETTINGS.min_motion_px)
    assert cue is not None and cue.judged
    assert cue.planarity > SETTINGS.nonplanar_live_at
    assert cue.parallax_px > SETTINGS.parallax_live_px
    assert cue.parallax_snr > SETTINGS.parallax_live_snr
    assert cue.surround_coherence is not None and cue.surround_coherence < 0.3

    evidence = LivenessChecker(None, SETTINGS).check(primary, face, burst)
    assert evidence.signals["parallax_snr"] == pytest.approx(cue.parallax_snr)
    assert "planar_motion" not in evidence.fired and "surround_moves" not in evidence.fired
    assert evidence.score >= SETTINGS.pass_threshold


def test_a_still_burst_gives_no_motion_evidence() -> None:
    face = _face()
    rng = np.random.default_rng(0)
    still = _texture(5).astype(np.float32)

    def shot() -> np.ndarray:  # the same view, with fresh sensor noise each frame
        return _jpeg(np.clip(still + rng.normal(0, 2.0, still.shape), 0, 255).astype(np.uint8))

    primary, burst = shot(), [shot() for _ in range(3)]
    cue = motion_cue(primary, face, burst, min_motion_px=SETTINGS.min_motion_px)
    assert cue is not None and not cue.judged and cue.motion_px < 0.5
    evidence = LivenessChecker(None, SETTINGS).check(primary, face, burst)
    assert SETTINGS.attack_threshold <= evidence.score < SETTINGS.pass_threshold


def test_no_burst_or_a_blank_face_is_not_measured() -> None:
    face = _face()
    assert motion_cue(_texture(6), face, [], min_motion_px=1.5) is None
    blank = np.full((H, W, 3), 128, np.uint8)
    assert motion_cue(blank, face, [blank, blank], min_motion_px=1.5) is None


def _framed(face: Detection, *, border: bool) -> np.ndarray:
    image = _jpeg(_texture(7, blur=4.0))
    if border:  # a white sheet's edge, 0.3 face widths outside the face on every side
        x1, y1, x2, y2 = (int(v) for v in face.box)
        m = int(0.3 * face.width)
        cv2.rectangle(image, (x1 - m, y1 - m), (x2 + m, y2 + m), (250, 250, 250), 6)
    return image


def test_a_frame_around_the_face_is_edges_and_none_is_not() -> None:
    face = _face()
    assert edge_cue(_framed(face, border=True), face) > 0.9
    assert edge_cue(_framed(face, border=False), face) < 0.2


@pytest.mark.parametrize("blur", [1.0, 2.0, 4.0])
def test_busy_texture_around_the_face_is_not_a_frame(blur: float) -> None:
    """Texture edges line up by chance; they are no steady step in brightness."""
    assert edge_cue(_jpeg(_texture(12, blur=blur)), _face()) == 0.0


def test_one_straight_line_beside_the_face_is_not_a_frame() -> None:
    face = _face()
    image = _framed(face, border=False)
    x = int(face.box[0] - 0.4 * face.width)
    cv2.line(image, (x, 0), (x, H - 1), (240, 240, 240), 5)  # a door frame
    assert 0.2 < edge_cue(image, face) <= 0.34


def _stripes(image: np.ndarray, period: float, amplitude: float, degrees: float) -> np.ndarray:
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    a = np.radians(degrees)
    wave = amplitude * np.sin(2 * np.pi * (xx * np.sin(a) + yy * np.cos(a)) / period)
    return np.clip(image + wave[..., None], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("blur", [3.0, 6.0])
@pytest.mark.parametrize("quality", [30, 50, 90])
def test_jpeg_alone_is_not_moire(quality: int, blur: float) -> None:
    face = _face()
    score = moire_cue(_jpeg(_texture(8, blur=blur), quality), face)
    assert score is not None and score < 0.1


@pytest.mark.parametrize("quality", [5, 20])
def test_the_block_grid_of_a_hard_compressed_smooth_face_is_not_moire(quality: int) -> None:
    """Smooth shading compressed hard shows JPEG's 8x8 blocks: peaks at k/8 cycle/px."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    shading = _texture(3, blur=25.0) * 0.5 + (xx / W * 80 + yy / H * 40)[..., None]
    score = moire_cue(_jpeg(np.clip(shading, 0, 255).astype(np.uint8), quality), _face())
    assert score is not None and score < 0.1


@pytest.mark.parametrize(("period", "degrees"), [(5.0, 25.0), (3.5, 60.0), (7.0, 110.0)])
def test_stripes_over_the_face_are_moire(period: float, degrees: float) -> None:
    face = _face()
    striped = _jpeg(_stripes(_texture(8, blur=3.0), period, 10.0, degrees))
    score = moire_cue(striped, face)
    assert score is not None and score >= SETTINGS.moire_fire_at


def test_horizontal_refresh_bands_are_moire() -> None:
    face = _face()
    banded = _jpeg(_stripes(_texture(9, blur=3.0), 4.5, 8.0, 0.0))
    score = moire_cue(banded, face)
    assert score is not None and score >= SETTINGS.moire_fire_at


def test_a_tiny_face_is_not_analysed_for_moire() -> None:
    assert moire_cue(_texture(10), _face(side=60)) is None


def test_a_flat_white_patch_on_the_face_is_glare() -> None:
    face = _face()
    image = _jpeg(_texture(11, blur=3.0))
    assert (glare_cue(image, face) or 0.0) < 0.1
    cx, cy = (int(v) for v in face.center)
    cv2.ellipse(image, (cx - 10, cy - 20), (25, 14), 20, 0, 360, (255, 255, 255), -1)
    score = glare_cue(image, face)
    assert score is not None and score >= SETTINGS.glare_fire_at


def test_a_blown_out_face_is_exposure_not_glare() -> None:
    face = _face()
    image = np.full((H, W, 3), 255, np.uint8)
    assert glare_cue(image, face) is None
