"""Probe transforms: each does what it says, keeps shape and dtype, and replays from its seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from examgate.augment import (
    Step,
    apply_chain,
    apply_chain_moved,
    apply_transform,
    apply_transform_moved,
    dim,
    face_landmarks,
    get_transform,
    transform_names,
)

# Transforms that draw nothing from the generator.
DETERMINISTIC = {"defocus", "low_resolution", "jpeg"}


def synthetic_face(size: int = 250) -> np.ndarray:
    """A textured, face-like frame with features at the fallback landmark positions."""
    rng = np.random.default_rng(1234)
    ys, xs = np.mgrid[0:size, 0:size]
    img = np.dstack([60 + 0.4 * xs, 80 + 0.3 * ys, 110 + 0.2 * xs]).astype(np.float32)
    img += rng.normal(0, 12, size=img.shape)  # texture, so blur has something to remove
    pts = face_landmarks(np.zeros((size, size, 3), np.uint8), None)
    centre = pts.mean(axis=0)
    cv2.ellipse(img, (int(centre[0]), int(centre[1])), (55, 75), 0, 0, 360, (120, 160, 210), -1)
    img[60:200, 60:190] += rng.normal(0, 10, size=(140, 130, 3))
    for x, y in pts[:2]:
        cv2.circle(img, (int(x), int(y)), 7, (40, 30, 30), -1)
    cv2.circle(img, (int(pts[2][0]), int(pts[2][1])), 5, (90, 110, 170), -1)
    cv2.line(img, tuple(int(v) for v in pts[3]), tuple(int(v) for v in pts[4]), (60, 50, 140), 3)
    return np.clip(img, 0, 255).astype(np.uint8)


FACE = synthetic_face()
PTS = face_landmarks(FACE, None)
EYE_DIST = float(np.linalg.norm(PTS[1] - PTS[0]))


def run(name: str, seed: int = 0, image: np.ndarray = FACE, **params: object) -> np.ndarray:
    return apply_transform(name, image, np.random.default_rng(seed), None, **params)


def region(img: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    x, y, h = int(centre[0]), int(centre[1]), int(half)
    return img[max(y - h, 0):y + h, max(x - h, 0):x + h].astype(np.float32)


def changed(a: np.ndarray, b: np.ndarray, level: int = 12) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > level


def laplacian_var(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_registry_has_every_transform() -> None:
    assert set(transform_names()) == {
        "dim", "backlight", "overexpose", "color_cast", "mask", "sunglasses", "cap_shadow",
        "hair_over_eyes", "motion_blur", "defocus", "low_resolution", "jpeg", "rotate",
        "off_center", "printed_photo", "empty_scene"}
    assert transform_names("occlusion") == ["cap_shadow", "hair_over_eyes", "mask", "sunglasses"]


@pytest.mark.parametrize("name", transform_names())
def test_shape_dtype_change_and_seed_replay(name: str) -> None:
    a, b = run(name, seed=5), run(name, seed=5)
    assert a.shape == FACE.shape and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes(), "same seed must give identical bytes"
    assert not np.array_equal(a, FACE), "the transform left the frame unchanged"
    c = run(name, seed=6)
    if name in DETERMINISTIC:
        assert np.array_equal(a, c)
    else:
        assert not np.array_equal(a, c), "a different seed should give a different frame"


def test_dim_darkens_and_overexpose_brightens() -> None:
    assert run("dim").mean() < 0.6 * FACE.mean()
    assert run("overexpose").mean() > 1.3 * FACE.mean()


def test_backlight_darkens_face_and_brightens_background() -> None:
    out = run("backlight")
    face_c = PTS[2]
    assert region(out, face_c, 25).mean() < 0.7 * region(FACE, face_c, 25).mean()
    corners = [(10, 10), (240, 10)]
    assert all(region(out, np.array(c), 10).mean() > region(FACE, np.array(c), 10).mean() + 20
               for c in corners)


def test_color_cast_warm_shifts_red_over_blue() -> None:
    out = run("color_cast", cast="warm", strength=0.3).astype(np.float32)
    before = FACE.astype(np.float32)
    assert out[..., 2].mean() / out[..., 0].mean() > 1.2 * before[..., 2].mean() / before[
        ..., 0].mean()


def test_mask_covers_lower_face_only() -> None:
    diff = changed(run("mask"), FACE)
    ys = np.nonzero(diff)[0]
    eye_y, mouth_y = PTS[:2, 1].mean(), PTS[3:, 1].mean()
    assert diff.sum() > 2000
    assert np.mean(ys > eye_y + 0.15 * EYE_DIST) > 0.95  # beneath the eyes (ear loops aside)
    assert changed(region(run("mask"), PTS[3:].mean(0), 8).astype(np.uint8),
                   region(FACE, PTS[3:].mean(0), 8).astype(np.uint8)).mean() > 0.9
    assert ys.max() > mouth_y + 0.4 * EYE_DIST  # down to the chin


def test_sunglasses_darken_eyes_and_spare_mouth() -> None:
    out = run("sunglasses")
    for eye in PTS[:2]:
        assert region(out, eye + [10, 0], 4).mean() < 0.5 * region(FACE, eye + [10, 0], 4).mean()
    mouth = PTS[3:].mean(0)
    assert np.array_equal(region(out, mouth, 8), region(FACE, mouth, 8))


def test_cap_shadow_darkens_above_the_eyes_only() -> None:
    out = run("cap_shadow")
    forehead = PTS[:2].mean(0) - [0, 0.9 * EYE_DIST]
    assert region(out, forehead, 8).mean() < 0.6 * region(FACE, forehead, 8).mean()
    mouth = PTS[3:].mean(0)
    assert abs(region(out, mouth, 8).mean() - region(FACE, mouth, 8).mean()) < 2


def test_hair_falls_over_the_chosen_eye() -> None:
    out = run("hair_over_eyes", side="left")
    left = changed(region(out, PTS[0], 10).astype(np.uint8),
                   region(FACE, PTS[0], 10).astype(np.uint8)).mean()
    right = changed(region(out, PTS[1], 10).astype(np.uint8),
                    region(FACE, PTS[1], 10).astype(np.uint8)).mean()
    assert left > 0.3 and left > 3 * right


@pytest.mark.parametrize("name", ["motion_blur", "defocus", "low_resolution"])
def test_blurs_lower_laplacian_variance(name: str) -> None:
    assert laplacian_var(run(name)) < 0.5 * laplacian_var(FACE)


def test_jpeg_quality_orders_the_error() -> None:
    err = [np.abs(run("jpeg", quality=q).astype(int) - FACE).mean() for q in (5, 30, 90)]
    assert err[0] > err[1] > err[2] > 0


def test_rotate_moves_landmarks_rigidly() -> None:
    out, moved = apply_transform_moved("rotate", FACE, np.random.default_rng(3))
    assert out.shape == FACE.shape
    assert np.linalg.norm(moved[1] - moved[0]) == pytest.approx(EYE_DIST, rel=1e-4)
    tilt = np.degrees(np.arctan2(*(moved[1] - moved[0])[::-1]))
    assert 4.0 - 1e-3 <= abs(tilt) <= 12.0 + 1e-3


def test_off_center_shifts_the_face() -> None:
    _, moved = apply_transform_moved("off_center", FACE, np.random.default_rng(3), None,
                                     {"shift": 0.2})
    shift = np.linalg.norm(moved.mean(0) - PTS.mean(0))
    assert 0.7 * 0.2 * 250 - 1 <= shift <= 0.2 * 250 * np.sqrt(2)


def test_printed_photo_is_a_warped_recapture() -> None:
    out, moved = apply_transform_moved("printed_photo", FACE, np.random.default_rng(3))
    assert np.abs(out.astype(int) - FACE).mean() > 5
    assert not np.allclose(moved, PTS)
    assert laplacian_var(out) < laplacian_var(FACE)


def test_empty_scene_keeps_nothing_of_the_face() -> None:
    out = run("empty_scene")
    eye = region(out, PTS[0], 6)
    assert eye.mean() > region(FACE, PTS[0], 6).mean() + 20 or eye.std() < 10


def test_chain_is_seeded_and_landmarks_follow() -> None:
    steps = [Step("rotate", {"min_degrees": 10, "max_degrees": 10}, 1), Step("sunglasses", {}, 2),
             Step("jpeg", {"quality": 40}, 3)]
    a = apply_chain(FACE, steps)
    assert a.tobytes() == apply_chain(FACE, steps).tobytes()
    _, moved = apply_chain_moved(FACE, steps)
    _, rotated = apply_transform_moved("rotate", FACE, np.random.default_rng(1), None,
                                       {"min_degrees": 10, "max_degrees": 10})
    assert np.allclose(moved, rotated)
    # The glasses follow the rotated eyes.
    for eye in moved[:2]:
        assert region(a, eye + (moved[1] - moved[0]) * 0.2, 3).mean() < 60


def test_params_are_checked() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="brightness"):
        apply_transform("dim", FACE, rng, brightness=2.0)
    with pytest.raises(ValueError, match="typo"):
        apply_transform("dim", FACE, rng, typo=1)
    with pytest.raises(ValueError):
        dim(FACE, rng, brightness=-1)
    with pytest.raises(KeyError, match="unknown transform 'nope'"):
        get_transform("nope")
    assert get_transform("jpeg").validate({}) == {"quality": 10}


def test_landmark_fallback_and_checks() -> None:
    pts = face_landmarks(np.zeros((500, 400, 3), np.uint8), None)
    assert pts.shape == (5, 2)
    assert pts[0, 0] < pts[2, 0] < pts[1, 0] and pts[0, 1] < pts[2, 1] < pts[3, 1]
    assert 180 < pts[2, 0] < 220 and 250 < pts[2, 1] < 300
    with pytest.raises(ValueError, match="landmarks"):
        face_landmarks(FACE, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="BGR uint8"):
        apply_transform("dim", FACE.astype(np.float32), np.random.default_rng(0))
