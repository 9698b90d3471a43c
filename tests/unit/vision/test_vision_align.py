"""Alignment geometry: landmarks land on the ArcFace template after the warp."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from examgate.vision.align import (
    ARCFACE_TEMPLATE_112,
    align_face,
    similarity_transform,
    template_for,
    transform_points,
)
from examgate.vision.errors import AlignmentError, VisionError
from examgate.vision.types import Detection


def _similar(points: np.ndarray, scale: float, angle_deg: float, shift: tuple[float, float],
             ) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return points @ rot.T + np.asarray(shift)


@pytest.mark.parametrize("scale,angle,shift", [(1.0, 0.0, (0, 0)), (2.3, 17.0, (140, 60)),
                                               (0.8, -35.0, (20, 90)), (4.0, 90.0, (300, 10))])
@pytest.mark.parametrize("method", ["lsq", "lmeds"])
def test_transform_maps_landmarks_onto_template(scale, angle, shift, method):
    pts = _similar(ARCFACE_TEMPLATE_112.astype(np.float64), scale, angle, shift)
    matrix = similarity_transform(pts, method=method)
    np.testing.assert_allclose(transform_points(matrix, pts), ARCFACE_TEMPLATE_112, atol=1e-3)
    # A similarity: equal scale on both axes, no shear.
    lin = matrix[:, :2]
    assert lin[0, 0] == pytest.approx(lin[1, 1], abs=1e-6)
    assert lin[0, 1] == pytest.approx(-lin[1, 0], abs=1e-6)
    assert math.hypot(lin[0, 0], lin[1, 0]) == pytest.approx(1.0 / scale, rel=1e-4)


def test_warped_dots_land_on_template_pixels():
    pts = _similar(ARCFACE_TEMPLATE_112.astype(np.float64), 2.5, 20.0, (200, 120))
    image = np.zeros((480, 560, 3), np.uint8)
    for x, y in pts:
        cv2.circle(image, (round(x), round(y)), 6, (255, 255, 255), -1)
    face = align_face(image, pts)
    assert face.shape == (112, 112, 3) and face.dtype == np.uint8
    for tx, ty in ARCFACE_TEMPLATE_112:
        assert face[round(ty), round(tx)].min() > 200, (tx, ty)


def test_one_outlier_landmark_is_ignored_by_lmeds():
    pts = _similar(ARCFACE_TEMPLATE_112.astype(np.float64), 2.0, 10.0, (50, 50))
    bad = pts.copy()
    bad[4] += (40.0, 35.0)  # a mouth corner under a hand
    moved = transform_points(similarity_transform(bad, method="lmeds"), pts[:4])
    np.testing.assert_allclose(moved, ARCFACE_TEMPLATE_112[:4], atol=0.5)


def test_least_squares_spreads_noise_over_all_points():
    rng = np.random.default_rng(3)
    pts = _similar(ARCFACE_TEMPLATE_112.astype(np.float64), 2.0, 5.0, (40, 30))
    noisy = pts + rng.normal(0, 1.5, pts.shape)
    lsq = transform_points(similarity_transform(noisy, method="lsq"), noisy)
    lmeds = transform_points(similarity_transform(noisy, method="lmeds"), noisy)
    sq_err = lambda p: float(np.sum((p - ARCFACE_TEMPLATE_112) ** 2))  # noqa: E731
    assert sq_err(lsq) <= sq_err(lmeds) + 1e-6
    with pytest.raises(ValueError):
        similarity_transform(pts, method="nope")


def test_align_accepts_a_detection_and_other_sizes():
    pts = _similar(ARCFACE_TEMPLATE_112.astype(np.float64), 1.5, 0.0, (10, 10))
    det = Detection.from_arrays(np.array([0, 0, 200, 200]), pts, 0.9)
    assert align_face(np.zeros((250, 250, 3), np.uint8), det).shape == (112, 112, 3)
    matrix = similarity_transform(pts, size=224)
    np.testing.assert_allclose(transform_points(matrix, pts), template_for(224), atol=1e-3)


def test_degenerate_landmarks_raise_alignment_error():
    with pytest.raises(AlignmentError) as info:
        similarity_transform(np.full((5, 2), 7.0))
    assert isinstance(info.value, VisionError) and info.value.reason == "ALIGN_FAILED"
    with pytest.raises(AlignmentError):
        similarity_transform(np.array([[np.nan, 1]] * 5))


def test_yunet_landmarks_align_lfw_face(lfw_image, yunet):
    image = lfw_image("Aaron_Peirsol")
    det = yunet.detect(image)[0]
    matrix = similarity_transform(det.landmarks_array())
    residual = transform_points(matrix, det.landmarks_array()) - ARCFACE_TEMPLATE_112
    assert np.abs(residual[:2]).max() < 4.0  # eyes land within a few pixels
