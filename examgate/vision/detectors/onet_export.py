"""Export facenet-pytorch's MTCNN O-net to ONNX, once, so serving needs no PyTorch.

``python -m examgate.vision.detectors.onet_export PATH`` (needs the ``mtcnn``
extra). The output is a model file: keep it in a cache or the model
registry, never in this repository.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from examgate.vision.errors import MissingExtraError
from examgate.vision.model_files import locate_model


def export_onet_onnx(dst: str | Path, weights: str | Path | None = None) -> Path:
    """Write the O-net (weights from ``weights`` or the bundled ``onet.pt``) to ``dst``."""
    try:
        import torch
        from facenet_pytorch.models.mtcnn import ONet
    except ImportError as exc:
        raise MissingExtraError("exporting the O-net landmark model", "mtcnn") from exc
    src = Path(weights) if weights else locate_model("mtcnn-onet").path
    net = ONet(pretrained=False)
    net.load_state_dict(torch.load(src, map_location="cpu", weights_only=True))
    net.eval()
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".onnx", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        # The TorchScript exporter needs no onnxscript; it is deprecated, not gone.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net, (torch.zeros(1, 3, 48, 48),), str(tmp_path), dynamo=False,
                input_names=["input"], output_names=["box", "landmarks", "prob"],
                dynamic_axes={"input": {0: "batch"}}, opset_version=13,
            )
        tmp_path.chmod(0o644)
        tmp_path.replace(out)
    finally:
        tmp_path.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m examgate.vision.detectors.onet_export OUT.onnx")
    print(export_onet_onnx(sys.argv[1]))
