"""Export a fine-tuned backbone to ONNX with SFace's input spec, and prove it matches PyTorch.

The file takes ``data``: float32 NCHW (batch, 3, 112, 112), RGB 0-255, and
gives ``fc1``: (batch, 128), so the serving path's ``sface`` embedder loads it
through ``model_path`` unchanged. Export uses the torch.export-based exporter
(needs ``onnxscript``) with a symbolic batch dimension.

    python -m trainer.export --run out/trainer/sface_finetune --out model.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainer.model import INPUT_SIZE, build_backbone

log = logging.getLogger("trainer.export")
INPUT_NAME, OUTPUT_NAME = "data", "fc1"
MAX_ABS_DIFF, MIN_COSINE = 1e-3, 0.9999
INPUT_SPEC = "float32 NCHW (batch, 3, 112, 112), RGB 0-255, ArcFace-aligned face"


class ExportParityError(RuntimeError):
    """The ONNX file's embeddings differ from PyTorch's beyond tolerance."""


def load_backbone(checkpoint: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone of a training checkpoint (rebuilt from its config), in eval mode, on CPU."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cfg = state["config"]
    backbone = build_backbone(cfg["backbone"], cfg["backbone_onnx"])
    backbone.load_state_dict(state["backbone"])
    return backbone.eval(), cfg


def export_onnx(backbone: nn.Module, path: Path, *, opset: int = 18,
                metadata: dict[str, str] | None = None) -> Path:
    """Write ``backbone`` (eval mode, CPU, fp32) to ``path`` with a dynamic batch axis."""
    import onnx

    backbone = backbone.eval().to("cpu", torch.float32).to(memory_format=torch.contiguous_format)
    example = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE) * 255.0
    path.parent.mkdir(parents=True, exist_ok=True)
    for noisy in ("onnxscript", "onnx_ir"):  # a line per optimiser pass at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            backbone, (example,), str(path), dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
            verbose=False)
    model = onnx.load(str(path))
    props = {"examgate.input": INPUT_SPEC, **(metadata or {})}
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def check_parity(backbone: nn.Module, onnx_path: Path, inputs: np.ndarray | None = None,
                 *, max_abs_diff: float = MAX_ABS_DIFF, min_cosine: float = MIN_COSINE,
                 ) -> dict[str, float]:
    """Compare L2-normalised embeddings of PyTorch and onnxruntime; raise when out of bounds.

    ``inputs`` is float NCHW RGB 0-255; by default 8 random images, batch 8 and
    batch 1 both run through the file (the batch axis must really be free).
    """
    import onnxruntime as ort

    if inputs is None:
        inputs = np.random.default_rng(0).uniform(0, 255, (8, 3, INPUT_SIZE, INPUT_SIZE))
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    if spec.name != INPUT_NAME or list(spec.shape[1:]) != [3, INPUT_SIZE, INPUT_SIZE]:
        raise ExportParityError(f"{onnx_path}: input {spec.name} {spec.shape} is not "
                                f"{INPUT_NAME} [batch, 3, {INPUT_SIZE}, {INPUT_SIZE}]")
    batched = session.run(None, {INPUT_NAME: inputs})[0]
    single = session.run(None, {INPUT_NAME: inputs[:1]})[0]
    with torch.no_grad():
        reference = backbone.eval().cpu().float()(torch.from_numpy(inputs)).numpy()
    a, b = _unit(batched), _unit(reference)
    report = {
        "max_abs_diff": float(np.abs(a - b).max()),
        "min_cosine": float(np.sum(a * b, axis=1).min()),
        "batch1_max_abs_diff": float(np.abs(_unit(single) - b[:1]).max()),
        "samples": float(len(inputs)),
    }
    worst = max(report["max_abs_diff"], report["batch1_max_abs_diff"])
    if worst >= max_abs_diff or report["min_cosine"] <= min_cosine:
        raise ExportParityError(f"{onnx_path} differs from PyTorch: {report}")
    return report


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def sample_faces(npz: Path | None, count: int = 8) -> np.ndarray | None:
    """Up to ``count`` real aligned crops from a crops .npz, as the model's input."""
    if npz is None:
        return None
    from trainer.data import FaceSet
    from trainer.model import to_input

    faces, _meta = FaceSet.load(npz)
    return to_input(torch.from_numpy(faces.faces[:count])).numpy()


def main(argv: list[str] | None = None) -> int:
    """Export a run's checkpoint to ONNX and check it against PyTorch."""
    parser = argparse.ArgumentParser(prog="python -m trainer.export", description=main.__doc__)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="a run folder holding checkpoint.pt")
    src.add_argument("--checkpoint", type=Path)
    parser.add_argument("--out", type=Path, help="default: <run>/model.onnx")
    parser.add_argument("--faces", type=Path, help="crops .npz for a real-face parity check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    checkpoint = args.checkpoint or args.run / "checkpoint.pt"
    out = args.out or checkpoint.parent / "model.onnx"
    backbone, cfg = load_backbone(checkpoint)
    export_onnx(backbone, out, metadata={"examgate.run": str(cfg["name"]),
                                         "examgate.backbone": str(cfg["backbone"])})
    report = {"onnx": str(out), "random": check_parity(backbone, out)}
    real = sample_faces(args.faces)
    if real is not None:
        report["faces"] = check_parity(backbone, out, real)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
