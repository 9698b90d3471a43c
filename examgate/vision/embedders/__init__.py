"""Face embedders by name: ``create_embedder("sface")``."""

from __future__ import annotations

from typing import Any

from examgate.vision.embedders import sface as _sface  # noqa: F401  (registers)
from examgate.vision.embedders.base import EMBEDDERS, STAGE, Embedder, l2_normalise

__all__ = ["EMBEDDERS", "STAGE", "Embedder", "create_embedder", "embedder_names", "l2_normalise"]


def create_embedder(name: str = "sface", **options: Any) -> Embedder:
    """Build the embedder registered as ``name`` (``model_path`` and options)."""
    return EMBEDDERS.create(name, **options)


def embedder_names() -> list[str]:
    """Names of the registered embedders."""
    return EMBEDDERS.names()
