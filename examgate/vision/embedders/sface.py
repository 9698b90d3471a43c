"""SFace (OpenCV Zoo, 2021dec, 128-D) through onnxruntime: the default embedder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from examgate.vision.embedders.base import EMBEDDERS, Embedder, as_batch, l2_normalise
from examgate.vision.embedders.onnx_graph import optimised_model_bytes
from examgate.vision.errors import ModelFileError
from examgate.vision.model_files import locate_model, sha256_file


@EMBEDDERS.register("sface")
class SFaceEmbedder(Embedder):
    """SFace on 112x112 ArcFace-aligned faces; takes RGB 0-255 (the graph normalises).

    ``optimise`` rewrites the graph in memory at load time (weights as
    constants, dynamic batch, PRelu as Relu/Min): same outputs, about 1.7x
    faster on one CPU thread. ``flip`` adds the mirrored face and averages
    the two embeddings. ``intra_op_threads`` is onnxruntime's per-call threads.
    """

    name = "sface"

    def __init__(self, model_path: str | Path | None = None, *, intra_op_threads: int = 1,
                 flip: bool = False, optimise: bool = True, max_batch: int = 8) -> None:
        path = Path(model_path) if model_path else locate_model("sface").path
        if not path.is_file():
            raise ModelFileError(f"SFace model not found: {path}")
        self.model_path = path
        self.flip = flip
        self.max_batch = max(1, max_batch)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # the stock file warns once per weight
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            if optimise:
                model, _dynamic = optimised_model_bytes(str(path))
            else:
                model = path.read_bytes()
            self._session = ort.InferenceSession(model, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx/onnxruntime raise several unrelated types
            raise ModelFileError(f"cannot load SFace from {path}: {exc}") from exc
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._batch_fixed = isinstance(inp.shape[0], int)
        self._dim = int(self._session.get_outputs()[0].shape[1])

    @property
    def dim(self) -> int:
        """Embedding length (128)."""
        return self._dim

    @property
    def model_sha256(self) -> str:
        """Checksum of the ONNX file in use."""
        return sha256_file(self.model_path)

    def embed(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised (N, 128) float32 embeddings of aligned BGR uint8 faces."""
        batch = as_batch(faces, self.input_size)
        if len(batch) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        # BGR HWC uint8 -> RGB NCHW float32, the layout the graph was exported with.
        blob = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
        if self.flip:
            blob = np.concatenate([blob, blob[..., ::-1]])
        raw = self._run(blob)
        if self.flip:
            n = len(batch)
            raw = l2_normalise(raw[:n]) + l2_normalise(raw[n:])
        return l2_normalise(raw)

    def _run(self, blob: np.ndarray) -> np.ndarray:
        step = 1 if self._batch_fixed else self.max_batch
        outs = [
            self._session.run(None, {self._input_name: np.ascontiguousarray(blob[i:i + step])})[0]
            for i in range(0, len(blob), step)
        ]
        return np.concatenate(outs).reshape(len(blob), -1)
