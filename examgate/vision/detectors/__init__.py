"""Face detectors by name: ``create_detector("yunet")`` (default), ``"yunet_onet"`` or ``"mtcnn"``.

Importing this package registers every detector; none of them imports heavy
optional dependencies (PyTorch) until it is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examgate.vision.detectors import mtcnn as _mtcnn  # noqa: F401  (registers)
from examgate.vision.detectors import onet as _onet  # noqa: F401  (registers)
from examgate.vision.detectors import yunet as _yunet  # noqa: F401  (registers)
from examgate.vision.detectors.base import DETECTORS, STAGE, Detector, fit_within

__all__ = ["DETECTORS", "STAGE", "Detector", "create_detector", "detector_names", "fit_within"]


def create_detector(name: str = "yunet", *, cache_dir: str | Path | None = None,
                    **options: Any) -> Detector:
    """Build the detector registered as ``name`` (``model_path``/``weights_dir`` and options).

    ``cache_dir`` reaches only detectors that convert a model on first use.
    """
    context = {"cache_dir": cache_dir} if cache_dir is not None else None
    return DETECTORS.create(name, context, **options)


def detector_names() -> list[str]:
    """Names of the registered detectors."""
    return DETECTORS.names()
