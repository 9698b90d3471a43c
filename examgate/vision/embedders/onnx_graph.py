"""Load-time rewrites of an ONNX graph that change its speed, never its outputs.

SFace 2021dec was exported with every weight also listed as a graph input
(which stops onnxruntime from folding constants), a batch size fixed at 1,
and 27 PRelu nodes that onnxruntime's CPU kernel runs slowly. The rewrites
below fix all three on the in-memory model; the file on disk is untouched.
They need the ``onnx`` package; without it the model is used as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def onnx_available() -> bool:
    """True when the ``onnx`` package can be imported."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def drop_initializer_inputs(model: Any) -> int:
    """Remove weights from the graph inputs so they count as constants; returns how many."""
    weights = {init.name for init in model.graph.initializer}
    keep = [inp for inp in model.graph.input if inp.name not in weights]
    dropped = len(model.graph.input) - len(keep)
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return dropped


def make_batch_dynamic(model: Any, dim_name: str = "batch") -> None:
    """Replace the first dimension of every graph input and output with a symbol."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = dim_name
    # Stale intermediate shapes would pin the batch size again.
    del model.graph.value_info[:]


def has_static_batch(model: Any) -> bool:
    """True when the first graph input has a fixed first dimension."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return bool(dims) and dims[0].HasField("dim_value")


def rewrite_prelu(model: Any) -> int:
    """Replace each ``PRelu(x, s)`` by ``Relu(x) + s * Min(x, 0)``; returns how many.

    Both forms are the same function; onnxruntime runs the second about twice
    as fast on CPU because Relu, Min, Mul and Add are vectorised kernels (and
    Relu fuses into the preceding convolution).
    """
    from onnx import helper, numpy_helper

    zero = _unique(model, "prelu_rewrite_zero")
    nodes = []
    count = 0
    for node in model.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        (y,) = node.output
        base = _unique(model, node.name or y)
        nodes += [
            helper.make_node("Relu", [x], [f"{base}/pos"]),
            helper.make_node("Min", [x, zero], [f"{base}/neg"]),
            helper.make_node("Mul", [f"{base}/neg", slope], [f"{base}/scaled"]),
            helper.make_node("Add", [f"{base}/pos", f"{base}/scaled"], [y]),
        ]
        count += 1
    if count:
        model.graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return count


def _unique(model: Any, stem: str) -> str:
    names = {n.name for n in model.graph.node} | {i.name for i in model.graph.initializer}
    return stem if stem not in names else f"{stem}_{len(names)}"


def optimised_model_bytes(path: str, *, prelu: bool = True) -> tuple[bytes, bool]:
    """The rewritten model as bytes and whether its batch size is now dynamic.

    Falls back to the file's own bytes (batch as stored) when ``onnx`` is missing.
    """
    if not onnx_available():
        with open(path, "rb") as fh:
            return fh.read(), False
    import onnx

    model = onnx.load(path)
    drop_initializer_inputs(model)
    make_batch_dynamic(model)
    if prelu:
        rewrite_prelu(model)
    onnx.checker.check_model(model)
    return model.SerializeToString(), True
