"""Trainable backbones by name; ``sface`` is the champion's ONNX graph turned into PyTorch.

The conversion goes through ``onnx2torch``, which maps SFace's ops (Conv,
BatchNormalization, PRelu, Gemm, Flatten, Dropout and the Sub/Mul input
scaling) to torch modules in an ``fx.GraphModule``. It stores every PRelu
slope as a frozen buffer behind a custom module, though: left so, fine-tuning
would never move the 27 activation slopes, and the module carries an export
hook of its own. :func:`_trainable_prelu` swaps each for a plain
``nn.PReLU`` whose slope is a parameter. The input scaling (x - 127.5) / 128
stays inside the graph, so the model takes RGB 0-255 like the ONNX file and an
export keeps the serving path's input spec.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import fx, nn

from examgate.vision.registry import Registry

BACKBONES: Registry[nn.Module] = Registry("backbone")

INPUT_SIZE = 112


def build_backbone(name: str, onnx_path: str | Path | None = None) -> nn.Module:
    """The backbone registered as ``name``, initialised from ``onnx_path`` when it takes one."""
    return BACKBONES.create(name, onnx_path=onnx_path)


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return BACKBONES.names()


@BACKBONES.register("sface")
def sface(onnx_path: str | Path | None = None) -> nn.Module:
    """SFace (MobileFaceNet-style, 128-D) from its ONNX file; the bundled 2021dec one by default.

    Also takes a file this trainer exported, so the next round fine-tunes the
    current champion rather than the original weights.
    """
    if onnx_path is None:
        from examgate.vision.model_files import locate_model

        onnx_path = locate_model("sface").path
    return convert_onnx(onnx_path)


def convert_onnx(onnx_path: str | Path) -> fx.GraphModule:
    """An ONNX embedder as a trainable ``fx.GraphModule`` (batch size free, PReLU trainable)."""
    try:
        import onnx
        from onnx2torch import convert
    except ImportError as exc:
        raise ImportError(
            f"converting ONNX to PyTorch needs {exc.name}: pip install 'examgate[train]'"
        ) from exc
    from examgate.vision.embedders.onnx_graph import drop_initializer_inputs, make_batch_dynamic

    model = onnx.load(str(onnx_path))
    # The stock file lists its weights as graph inputs and pins batch=1.
    drop_initializer_inputs(model)
    make_batch_dynamic(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnx2torch warns on every Gemm/BN it maps
        module = convert(model)
    _trainable_prelu(module)
    return module


def _trainable_prelu(module: fx.GraphModule) -> int:
    """Replace onnx2torch's PRelu(x, frozen_slope) calls by ``nn.PReLU``; returns how many."""
    from onnx2torch.node_converters.activations import OnnxPReLU

    count = 0
    for node in list(module.graph.nodes):
        if node.op != "call_module" or not isinstance(module.get_submodule(node.target),
                                                      OnnxPReLU):
            continue
        x, slope_node = node.args
        if slope_node.op != "get_attr":
            continue
        slope = _fetch(module, slope_node.target).detach()
        # Per-channel (C, 1, 1) or one shared slope; anything else keeps ONNX broadcasting.
        if slope.numel() != 1 and any(s != 1 for s in slope.shape[1:]):
            continue
        prelu = nn.PReLU(slope.numel())
        with torch.no_grad():
            prelu.weight.copy_(slope.reshape(-1).float())
        module.add_submodule(node.target, prelu)
        node.args = (x,)
        if not slope_node.users:
            module.graph.erase_node(slope_node)
            _drop(module, slope_node.target)
        count += 1
    module.graph.lint()
    module.delete_all_unused_submodules()
    module.recompile()
    return count


def _fetch(module: nn.Module, target: str) -> torch.Tensor:
    owner, _, attr = target.rpartition(".")
    return getattr(module.get_submodule(owner) if owner else module, attr)


def _drop(module: nn.Module, target: str) -> None:
    owner, _, attr = target.rpartition(".")
    delattr(module.get_submodule(owner) if owner else module, attr)


def set_bn_eval(module: nn.Module) -> None:
    """Put every batch-norm layer in eval mode: running statistics stay, affine params train."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def to_input(faces_bgr: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """Aligned BGR uint8 faces (N, H, W, 3) to the model's RGB float 0-255 NCHW input."""
    x = faces_bgr.flip(-1).permute(0, 3, 1, 2).float()
    memory = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=memory)
