"""The champion SFace converted to PyTorch reproduces onnxruntime and is fully trainable."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from trainer.model import backbone_names, to_input  # noqa: E402


def _onnxruntime_raw(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    from examgate.vision.embedders.onnx_graph import optimised_model_bytes

    model, _ = optimised_model_bytes(str(path), prelu=False)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_converted_sface_matches_onnxruntime_on_random_input(sface_backbone, sface_path):
    x = np.random.default_rng(1).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    with torch.no_grad():
        ours = sface_backbone(torch.from_numpy(x)).numpy()
    ref = _onnxruntime_raw(sface_path, x)
    assert ours.shape == (3, 128)
    assert np.abs(ours - ref).max() < 1e-4


@pytest.mark.lfw
def test_converted_sface_matches_the_serving_embedder_on_lfw_faces(sface_backbone, lfw_faces):
    from examgate.vision.embedders import create_embedder

    served = create_embedder("sface").embed(lfw_faces)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(sface_backbone(to_input(
            torch.from_numpy(lfw_faces)))).numpy()
    assert np.abs(ours - served).max() < 1e-5
    assert float(ours[0] @ ours[1]) > float(ours[0] @ ours[2])  # same person scores higher


def test_every_weight_is_a_trainable_parameter(sface_backbone):
    from onnx2torch.node_converters.activations import OnnxPReLU

    assert "sface" in backbone_names()
    assert not any(isinstance(m, OnnxPReLU) for m in sface_backbone.modules())
    prelus = [m for m in sface_backbone.modules() if isinstance(m, torch.nn.PReLU)]
    assert len(prelus) == 27 and all(m.weight.requires_grad for m in prelus)
    # Only the two input-scaling constants stay buffers (besides BN running statistics).
    constants = [n for n, _ in sface_backbone.named_buffers() if n.startswith("initializers")]
    assert len(constants) == 2
