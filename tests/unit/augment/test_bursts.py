"""Burst instruments: the frames asked for, seeded and validated; a live face moves in depth,
a held print moves as one plane, screens beat against the sensor, the gate scene holds still."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from examgate.augment import ATTACK_FAMILY, burst_names, face_landmarks, get_burst, render_burst
from examgate.core.settings import DataSettings
from examgate.vision import Detector, create_detector

INSTRUMENTS = ["bona_fide", "cutout_print", "phone_replay", "printed_photo_handheld",
               "printed_photo_still", "screen_replay_video", "tablet_replay"]
SCREENS = ["phone_replay", "screen_replay_video", "tablet_replay"]
SMALL = {"width": 320, "height": 240, "face_px": 80}
CENTRED = {"placement": 0.0}                     # face centre at (320, 216) in 640 x 480
LFW_PHOTO = DataSettings().lfw_dir / "images" / "George_W_Bush" / "George_W_Bush_0001.jpg"


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A textured, face-like 250 x 250 photo with features at the fallback landmarks."""
    noise = np.random.default_rng(1234)
    ys, xs = np.mgrid[0:250, 0:250]
    img = np.dstack([60 + 0.4 * xs, 80 + 0.3 * ys, 110 + 0.2 * xs]).astype(np.float32)
    img += noise.normal(0, 12, size=img.shape)
    pts = face_landmarks(np.zeros((250, 250, 3), np.uint8), None)
    cx, cy = pts.mean(axis=0)
    cv2.ellipse(img, (int(cx), int(cy) - 10), (55, 75), 0, 0, 360, (120, 160, 210), -1)
    img[60:200, 60:190] += noise.normal(0, 10, size=(140, 130, 3))
    for x, y in pts[:2]:
        cv2.circle(img, (int(x), int(y)), 7, (40, 30, 30), -1)
    cv2.circle(img, (int(pts[2][0]), int(pts[2][1])), 5, (90, 110, 170), -1)
    cv2.line(img, (int(pts[3][0]), int(pts[3][1])), (int(pts[4][0]), int(pts[4][1])),
             (60, 50, 140), 3)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def lfw_photo() -> np.ndarray:
    if not LFW_PHOTO.is_file():
        pytest.skip(f"LFW not found at {LFW_PHOTO.parents[2]}")
    image = cv2.imread(str(LFW_PHOTO), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def normalised(gray: np.ndarray) -> np.ndarray:
    """Local contrast normalisation, so tracking ignores brightness (tilt, flicker, glare)."""
    f = gray.astype(np.float32)
    mean = cv2.GaussianBlur(f, (0, 0), 5)
    std = np.sqrt(cv2.GaussianBlur((f - mean) ** 2, (0, 0), 5)) + 3.0
    return cv2.convertScaleAbs((f - mean) / std, alpha=40, beta=128)


def track(first: np.ndarray, last: np.ndarray, face_px: float = 140.0,
          centre: tuple[int, int] = (320, 216)) -> tuple[np.ndarray, np.ndarray]:
    """Corners inside the head (never the scene around it) in ``first``, found in ``last``."""
    g0, g1 = (normalised(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)) for f in (first, last))
    inside = np.zeros_like(g0)
    cv2.ellipse(inside, centre, (int(0.52 * face_px), int(0.72 * face_px)), 0, 0, 360, 255, -1)
    p0 = cv2.goodFeaturesToTrack(g0, 200, 0.01, 5, mask=inside)
    p1, found, _ = cv2.calcOpticalFlowPyrLK(g0, g1, p0, p0.copy(), winSize=(21, 21),
                                            maxLevel=3)
    ok = found.ravel() == 1
    assert ok.sum() > 50, "too few points tracked"
    return p0[ok].reshape(-1, 2), p1[ok].reshape(-1, 2)


def homography_residual(frames: list[np.ndarray]) -> tuple[float, float]:
    """(median error of the best RANSAC homography, median motion) from frame 0 to the last."""
    a, b = track(frames[0], frames[-1])
    hom, _ = cv2.findHomography(a, b, cv2.RANSAC, 3.0)
    fitted = cv2.perspectiveTransform(a.reshape(-1, 1, 2), hom).reshape(-1, 2)
    return (float(np.median(np.linalg.norm(fitted - b, axis=1))),
            float(np.median(np.linalg.norm(b - a, axis=1))))


def periodic_peak(frame: np.ndarray, face_px: float = 140.0) -> float:
    """Strongest off-DC spectral peak of the face region (periods under 12 px) over the median."""
    r = int(face_px / 2)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)[216 - r:216 + r,
                                                                         320 - r:320 + r]
    window = np.outer(np.hanning(2 * r), np.hanning(2 * r))
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((gray - gray.mean()) * window)))
    yy, xx = np.mgrid[-r:r, -r:r]
    fine = np.hypot(xx, yy) > 2 * r / 12
    return float(spectrum[fine].max() / np.median(spectrum[fine]))


def test_registry_names_every_instrument_and_its_attack_family() -> None:
    assert burst_names() == INSTRUMENTS
    assert ATTACK_FAMILY == {
        "bona_fide": "bona_fide", "printed_photo_still": "print",
        "printed_photo_handheld": "print", "cutout_print": "print", "phone_replay": "screen",
        "tablet_replay": "screen", "screen_replay_video": "screen"}
    assert burst_names("screen") == SCREENS
    spec = get_burst("printed_photo_handheld")
    assert spec.family == "print" and spec.summary
    defaults = spec.validate()
    assert (defaults["width"], defaults["height"], defaults["edge_visible"],
            defaults["fingers"]) == (640, 480, True, True)


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_renders_the_requested_frames(name: str, face: np.ndarray) -> None:
    frames = render_burst(name, face, rng(0), frames=3, params=SMALL)
    assert len(frames) == 3
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in frames)


def test_default_burst_is_a_primary_and_four_vga_frames(face: np.ndarray) -> None:
    frames = render_burst("phone_replay", face, rng(0))
    assert [f.shape for f in frames] == [(480, 640, 3)] * 5


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_same_seed_same_bytes_another_seed_not(name: str, face: np.ndarray) -> None:
    first = render_burst(name, face, rng(5), frames=2, params=SMALL)
    again = render_burst(name, face, rng(5), frames=2, params=SMALL)
    other = render_burst(name, face, rng(6), frames=2, params=SMALL)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_unknown_parameter_is_refused_naming_the_instrument(name: str, face: np.ndarray) -> None:
    with pytest.raises(ValueError, match=name):
        render_burst(name, face, rng(0), params={"wobble": 1.0})


@pytest.mark.parametrize(("name", "params"), [
    ("bona_fide", {"yaw_deg": -1.0}), ("phone_replay", {"width": 10}),
    ("printed_photo_still", {"edge_visible": "sometimes"}),
    ("screen_replay_video", {"device": "television"})])
def test_out_of_range_parameters_are_refused(name: str, params: dict, face: np.ndarray) -> None:
    with pytest.raises(ValueError, match=name):
        render_burst(name, face, rng(0), params=params)


def test_unknown_instrument_and_bad_frame_counts_are_refused(face: np.ndarray) -> None:
    with pytest.raises(KeyError, match="known: bona_fide"):
        render_burst("deepfake", face, rng(0))
    with pytest.raises(ValueError, match="frames"):
        render_burst("bona_fide", face, rng(0), frames=0)


def test_gate_scene_holds_still_while_the_face_moves(face: np.ndarray) -> None:
    frames = render_burst("bona_fide", face, rng(3),
                          params={"still": 0.0, "flicker": 0.0, **CENTRED, "face_px": 100})
    smooth = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32),
                               (0, 0), 2.0) for f in frames]
    # The person spans x 155..485 at this size; the scene beyond is untouched by them.
    scene = np.zeros((480, 640), bool)
    scene[:, :100] = scene[:, 540:] = True
    head = np.zeros((480, 640), bool)
    head[176:256, 280:360] = True
    for later in smooth[1:]:
        assert np.abs(later - smooth[0])[scene].mean() < 0.5    # sensor noise only
    assert np.abs(smooth[-1] - smooth[0])[head].mean() > 1.5    # the head has moved


def test_a_given_background_is_the_still_scene(face: np.ndarray) -> None:
    ys, xs = np.mgrid[0:300, 0:400]
    wall = np.dstack([xs * 0.5, ys * 0.6, 100 + 0 * xs]).astype(np.uint8)
    frames = render_burst("bona_fide", face, rng(1), params={"flicker": 0.0},
                          background=wall)
    expected = cv2.resize(wall, (640, 480)).astype(np.float32)
    for frame in frames:
        corner = np.abs(frame[:, :80].astype(np.float32) - expected[:, :80])
        assert corner.mean() < 3.0


def test_live_motion_is_not_one_homography_but_a_held_print_is(face: np.ndarray) -> None:
    live = [homography_residual(render_burst("bona_fide", face, rng(s),
                                             params={"still": 0.0, **CENTRED}))
            for s in range(4)]
    held = [homography_residual(render_burst("printed_photo_handheld", face, rng(s),
                                             params=CENTRED))
            for s in range(4)]
    live_error, held_error = (float(np.mean([r for r, _ in rs])) for rs in (live, held))
    assert min(m for _, m in held) > 2.0           # the print did move...
    assert held_error < 0.3                        # ...as one plane, up to tracking noise
    assert live_error > 2.0 * held_error           # the face did not


def test_a_still_student_moves_well_under_a_pixel(face: np.ndarray) -> None:
    frames = render_burst("bona_fide", face, rng(2), params={"still": 1.0, "blink": 0.0,
                                                             **CENTRED})
    a, b = track(frames[0], frames[-1])
    assert float(np.median(np.linalg.norm(b - a, axis=1))) < 0.5


def test_a_print_on_a_stand_jitters_at_most_about_a_pixel(face: np.ndarray) -> None:
    for seed in range(3):
        frames = render_burst("printed_photo_still", face, rng(seed), params=CENTRED)
        for later in frames[1:]:
            a, b = track(frames[0], later)
            assert float(np.median(np.linalg.norm(b - a, axis=1))) < 1.2


@pytest.mark.parametrize("name", SCREENS)
def test_screens_beat_against_the_sensor_and_live_skin_does_not(name: str,
                                                                face: np.ndarray) -> None:
    live = max(periodic_peak(render_burst("bona_fide", face, rng(s), frames=1,
                                          params=CENTRED)[0]) for s in range(3))
    screen = min(periodic_peak(render_burst(name, face, rng(s), frames=1,
                                            params=CENTRED)[0]) for s in range(3))
    assert screen > 1.4 * live


@pytest.mark.parametrize(("name", "params"), [
    ("printed_photo_still", {"edge_visible": False}),
    ("printed_photo_handheld", {"edge_visible": False}),
    ("phone_replay", {"bezel_visible": False}), ("tablet_replay", {"bezel_visible": False}),
    ("screen_replay_video", {"bezel_visible": False})])
def test_without_an_edge_in_view_the_replica_fills_the_frame(name: str, params: dict,
                                                              face: np.ndarray) -> None:
    magenta = np.zeros((480, 640, 3), np.uint8)
    magenta[:] = (255, 0, 255)

    def scene_left(frame: np.ndarray) -> float:
        b, g, r = (frame[..., c].astype(int) for c in range(3))
        return float(((b > 200) & (g < 60) & (r > 200)).mean())

    edged = render_burst(name, face, rng(0), params={}, background=magenta)
    filled = render_burst(name, face, rng(0), params=params, background=magenta)
    assert scene_left(edged[0]) > 0.05
    assert all(scene_left(f) == 0.0 for f in filled)


@pytest.fixture(scope="module")
def yunet() -> Detector:
    return create_detector("yunet", score_threshold=0.5, max_side=640, num_threads=1)


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_the_face_is_found_in_the_primary_frame(name: str, lfw_photo: np.ndarray,
                                                yunet: Detector) -> None:
    for seed in range(2):
        frame = render_burst(name, lfw_photo, rng(seed), params=CENTRED)[0]
        found = yunet.detect(frame)
        assert found, f"{name}: no face in the primary frame (seed {seed})"
        x1, y1, x2, y2 = found[0].box
        assert 100 <= found[0].width <= 180           # a student about 60 cm away
        assert abs((x1 + x2) / 2 - 320) < 40 and abs((y1 + y2) / 2 - 216) < 50


def test_the_lfw_photo_is_a_bona_fide_that_moves_in_depth(lfw_photo: np.ndarray) -> None:
    live = np.mean([homography_residual(render_burst("bona_fide", lfw_photo, rng(s),
                                                     params={"still": 0.0, **CENTRED}))[0]
                    for s in range(3)])
    held = np.mean([homography_residual(render_burst("printed_photo_handheld", lfw_photo,
                                                     rng(s), params=CENTRED))[0]
                    for s in range(3)])
    assert live > 1.5 * held
