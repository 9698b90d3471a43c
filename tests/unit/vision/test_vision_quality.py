"""Quality gates name what to fix: size, blur, light, pose, confidence, several faces, none."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from examgate.core.settings import QualitySettings
from examgate.vision.align import ARCFACE_TEMPLATE_112
from examgate.vision.quality import (
    QualityReason,
    assess_quality,
    judge,
    measure_quality,
    pose_from_landmarks,
    select_primary,
)
from examgate.vision.types import Detection

SETTINGS = QualitySettings()


def _face(x: float, y: float, side: float, score: float = 0.9) -> Detection:
    pts = ARCFACE_TEMPLATE_112 * (side / 112.0) + (x, y)
    return Detection.from_arrays(np.array([x, y, x + side, y + side]), pts, score)


def test_pose_of_template_is_frontal_and_upright():
    yaw, roll = pose_from_landmarks(ARCFACE_TEMPLATE_112)
    assert abs(yaw) < 3 and abs(roll) < 1


def test_roll_follows_the_eye_line():
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    _, roll = pose_from_landmarks(ARCFACE_TEMPLATE_112 @ rot.T)
    assert roll == pytest.approx(30, abs=0.5)


def test_yaw_grows_as_the_nose_moves_towards_one_eye():
    pts = ARCFACE_TEMPLATE_112.copy()
    pts[2, 0] += 14  # nose halfway to the right eye
    yaw, _ = pose_from_landmarks(pts)
    assert yaw > 30
    pts[2, 0] -= 28
    assert pose_from_landmarks(pts)[0] < -30


def test_primary_is_the_largest_face_and_small_background_faces_do_not_count():
    big, small = _face(10, 10, 150), _face(300, 20, 40)
    assert select_primary([small, big]) is big
    image = np.full((300, 400, 3), 128, np.uint8)
    verdict = assess_quality(image, [small, big], SETTINGS)
    assert verdict.face is big
    assert QualityReason.MULTIPLE_FACES not in verdict.reasons
    assert verdict.measures is not None and verdict.measures.face_count == 1


def test_two_similar_faces_fail_multiple_faces():
    verdict = assess_quality(np.full((300, 400, 3), 128, np.uint8),
                             [_face(10, 10, 150), _face(200, 10, 120)], SETTINGS)
    assert verdict.reason == QualityReason.MULTIPLE_FACES


def test_no_face():
    verdict = assess_quality(np.zeros((100, 100, 3), np.uint8), [], SETTINGS)
    assert not verdict.ok and verdict.reasons == (QualityReason.NO_FACE,)
    assert verdict.measures is None and verdict.face is None


def test_judge_reports_every_failed_gate_in_order():
    m = measure_quality(np.zeros((60, 60, 3), np.uint8), _face(0, 0, 30, score=0.3), 1)
    reasons = judge(m, SETTINGS)
    assert reasons[:2] == (QualityReason.FACE_TOO_SMALL, QualityReason.LOW_CONFIDENCE)
    assert QualityReason.BLURRY in reasons and QualityReason.TOO_DARK in reasons
    assert all(isinstance(r, str) and r == r.upper() for r in reasons)


def test_face_box_outside_the_image_does_not_crash():
    m = measure_quality(np.zeros((50, 50, 3), np.uint8), _face(500, 500, 80), 1)
    assert m.sharpness == 0 and m.brightness == 0


@pytest.fixture(scope="module")
def clear_face(lfw_image, yunet):
    image = lfw_image("Serena_Williams")
    return image, yunet.detect(image)


@pytest.mark.lfw
def test_clear_lfw_face_passes(clear_face):
    image, faces = clear_face
    verdict = assess_quality(image, faces, SETTINGS)
    assert verdict.ok, verdict
    assert verdict.measures.as_dict()["face_count"] == 1


@pytest.mark.lfw
@pytest.mark.parametrize("name,edit,reason", [
    ("blur", lambda im: cv2.GaussianBlur(im, (0, 0), 3), QualityReason.BLURRY),
    ("dark", lambda im: (im * 0.15).astype(np.uint8), QualityReason.TOO_DARK),
    ("glare", lambda im: np.clip(im.astype(int) * 2 + 90, 0, 255).astype(np.uint8),
     QualityReason.OVEREXPOSED),
])
def test_degraded_lfw_face_names_the_problem(clear_face, name, edit, reason):
    image, faces = clear_face
    verdict = assess_quality(edit(image), faces, SETTINGS)
    assert reason in verdict.reasons, (name, verdict)


@pytest.mark.lfw
def test_two_people_side_by_side_fail_multiple_faces(lfw_image, yunet):
    image = np.hstack([lfw_image("Serena_Williams"), lfw_image("Colin_Powell")])
    verdict = assess_quality(image, yunet.detect(image), SETTINGS)
    assert QualityReason.MULTIPLE_FACES in verdict.reasons


@pytest.mark.lfw
def test_far_away_student_is_too_small(lfw_image, yunet):
    image = cv2.resize(lfw_image("Serena_Williams"), (400, 400))
    canvas = np.full((1200, 1600, 3), 90, np.uint8)
    canvas[400:500, 700:800] = cv2.resize(image, (100, 100), interpolation=cv2.INTER_AREA)
    verdict = assess_quality(canvas, yunet.detect(canvas), SETTINGS)
    assert verdict.reason in {QualityReason.FACE_TOO_SMALL, QualityReason.NO_FACE}
