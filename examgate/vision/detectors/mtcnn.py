"""MTCNN (facenet-pytorch's P/R/O-nets, bundled weights): an optional, slower detector.

PyTorch is imported here, inside the constructor, and nowhere else in the
serving path; without the ``mtcnn`` extra the constructor raises
:class:`MissingExtraError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from examgate.vision.detectors.base import DETECTORS, Detector, fit_within
from examgate.vision.errors import MissingExtraError, ModelFileError
from examgate.vision.model_files import sha256_file
from examgate.vision.types import Detection

_NETS = ("pnet", "rnet", "onet")


@DETECTORS.register("mtcnn")
class MtcnnDetector(Detector):
    """Three-stage cascade; landmarks come out in the ArcFace order already.

    ``weights_dir`` holds ``pnet.pt``, ``rnet.pt`` and ``onet.pt``; by default
    the files bundled in facenet-pytorch are used. ``num_threads`` sets
    PyTorch's process-wide intra-op thread count when given.
    """

    name = "mtcnn"

    def __init__(self, weights_dir: str | Path | None = None, *, min_face_size: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 score_threshold: float = 0.5, max_side: int | None = 640,
                 num_threads: int | None = 1) -> None:
        try:
            import torch
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise MissingExtraError("the mtcnn detector", "mtcnn") from exc
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self._net: Any = MTCNN(keep_all=True, min_face_size=min_face_size,
                               thresholds=list(thresholds), post_process=False,
                               select_largest=False, device="cpu")
        self.weights_dir = Path(weights_dir) if weights_dir else _bundled_dir()
        if weights_dir is not None:
            for net in _NETS:
                path = self.weights_dir / f"{net}.pt"
                if not path.is_file():
                    raise ModelFileError(f"MTCNN weights not found: {path}")
                state = torch.load(path, map_location="cpu", weights_only=True)
                getattr(self._net, net).load_state_dict(state)
        self._net.eval()
        self.score_threshold = score_threshold
        self.max_side = max_side

    @property
    def model_sha256(self) -> str:
        """Checksum of the O-net file (the P- and R-nets are pinned in model_files)."""
        return sha256_file(self.weights_dir / "onet.pt")

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR image, best score first."""
        small, scale = fit_within(image, self.max_side)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        with self._torch.inference_mode():
            boxes, probs, points = self._net.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        inv = 1.0 / scale
        found = [
            Detection.from_arrays(np.asarray(b) * inv, np.asarray(p) * inv, float(s))
            for b, s, p in zip(boxes, probs, points, strict=True)
            if s is not None and s >= self.score_threshold
        ]
        return sorted(found, key=lambda d: d.score, reverse=True)


def _bundled_dir() -> Path:
    from examgate.vision.model_files import locate_model

    return locate_model("mtcnn-onet").path.parent
