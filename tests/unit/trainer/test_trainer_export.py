"""ONNX export keeps SFace's input spec and PyTorch's embeddings; the serving embedder loads it."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")
pytest.importorskip("onnxscript")

from trainer.export import ExportParityError, check_parity, export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exported(sface_backbone, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    return export_onnx(sface_backbone, path, metadata={"examgate.run": "test"})


def test_export_matches_pytorch_with_a_free_batch_axis(sface_backbone, exported):
    import onnx

    report = check_parity(sface_backbone, exported)
    assert report["max_abs_diff"] < 1e-3 and report["min_cosine"] > 0.9999
    assert report["batch1_max_abs_diff"] < 1e-3
    props = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    assert props["examgate.run"] == "test" and "RGB 0-255" in props["examgate.input"]


def test_serving_embedder_loads_the_export(sface_backbone, exported):
    from examgate.vision.embedders import create_embedder

    faces = np.random.default_rng(2).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    ours = create_embedder("sface", model_path=exported).embed(faces)
    champion = create_embedder("sface").embed(faces)
    assert ours.shape == (3, 128)
    assert np.abs(ours - champion).max() < 1e-4  # same weights, same serving path


def test_parity_check_catches_a_different_model(sface_backbone, exported):
    other = copy.deepcopy(sface_backbone)
    with torch.no_grad():
        other.pre_fc1.weight.mul_(-1.0)
    with pytest.raises(ExportParityError):
        check_parity(other, exported)
