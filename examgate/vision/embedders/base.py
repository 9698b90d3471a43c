"""The embedder port: aligned faces in, L2-normalised float32 embeddings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from examgate.vision.registry import Registry

STAGE = "embed"

EMBEDDERS: Registry[Embedder] = Registry("embedder")


class Embedder(ABC):
    """Maps aligned BGR uint8 faces (N, S, S, 3) to unit vectors (N, dim)."""

    name: ClassVar[str]
    input_size: ClassVar[int] = 112

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding length."""

    @abstractmethod
    def embed(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of aligned faces, one row each, L2-normalised float32."""

    def embed_with_mirror(self, faces: np.ndarray | Sequence[np.ndarray],
                          embedded: np.ndarray | None = None) -> np.ndarray:
        """Each face and its mirror image embedded, the two averaged (L2-normalised).

        For enrollment templates: a steadier vector of the student, at twice the cost,
        paid at the registrar's desk and not at the gate. ``embedded`` is these faces'
        own embeddings when already made (saves one pass).
        """
        batch = as_batch(faces, self.input_size)
        own = self.embed(batch) if embedded is None else np.asarray(embedded, np.float32)
        if len(own) != len(batch):
            raise ValueError(f"{len(own)} embeddings for {len(batch)} faces")
        return l2_normalise(own + self.embed(np.ascontiguousarray(batch[:, :, ::-1])))

    @property
    def model_sha256(self) -> str | None:
        """Checksum of the weights in use; templates of another checksum are not comparable."""
        return None


def as_batch(faces: np.ndarray | Sequence[np.ndarray], size: int) -> np.ndarray:
    """Stack faces into an (N, size, size, 3) uint8 array, checking their shape."""
    batch = np.asarray(faces) if not isinstance(faces, np.ndarray) else faces
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[1:] != (size, size, 3):
        raise ValueError(f"expected aligned faces of shape (N, {size}, {size}, 3), "
                         f"got {batch.shape}")
    return batch


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)
