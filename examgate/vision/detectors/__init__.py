"""Face detectors by name: ``create_detector("yunet_onet")`` (default), ``"yunet"``, ``"mtcnn"``.

Importing this package registers every detector; none of them imports heavy
optional dependencies (PyTorch) until it is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examgate.core.settings import VisionSettings
from examgate.vision.detectors import mtcnn as _mtcnn  # noqa: F401  (registers)
from examgate.vision.detectors import onet as _onet  # noqa: F401  (registers)
from examgate.vision.detectors import yunet as _yunet  # noqa: F401  (registers)
from examgate.vision.detectors.base import DETECTORS, STAGE, Detector, fit_within
from examgate.vision.errors import ModelFileError
from examgate.vision.model_files import locate_model, sha256_file

__all__ = ["DETECTORS", "STAGE", "Detector", "create_detector", "detector_files",
           "detector_from_settings", "detector_names", "fit_within"]

# The bundled file a detector reads as its registry role "detector".
_BUNDLED_FILE = {"yunet": "yunet", "yunet_onet": "yunet", "mtcnn": "mtcnn-onet"}


def create_detector(name: str = "yunet", *, cache_dir: str | Path | None = None,
                    onet_path: str | Path | None = None, **options: Any) -> Detector:
    """Build the detector registered as ``name`` (``model_path``/``weights_dir`` and options).

    ``cache_dir`` reaches only detectors that convert a model on first use, ``onet_path``
    only those that refine landmarks with the O-net.
    """
    context = {k: v for k, v in (("cache_dir", cache_dir), ("onet_path", onet_path))
               if v is not None}
    return DETECTORS.create(name, context or None, **options)


def detector_files(settings: VisionSettings) -> dict[str, Path]:
    """The files the configured detector reads, by model-registry role: ``detector``, and
    ``onet`` for ``yunet_onet`` (checked against ``settings.onet_sha256``)."""
    files = {"detector": locate_model(_BUNDLED_FILE.get(settings.detector,
                                                        settings.detector)).path}
    if settings.detector == "yunet_onet":
        path = settings.onet_path
        if not path.is_file():
            raise ModelFileError(
                f"the O-net ONNX for detector yunet_onet is not at {path} (vision.onet_path): "
                f"it ships in shared/models/onet/, or export it once with 'python -m "
                f"examgate.vision.detectors.onet_export {path}' (needs the mtcnn extra)")
        actual = sha256_file(path)
        if settings.onet_sha256 and actual != settings.onet_sha256:
            raise ModelFileError(f"O-net ONNX at {path} has SHA-256 {actual}, expected "
                                 f"{settings.onet_sha256} (vision.onet_sha256)")
        files["onet"] = path
    return files


def detector_from_settings(settings: VisionSettings, *, files: dict[str, Path] | None = None,
                           num_threads: int | None = None) -> Detector:
    """The configured detector with its thresholds, from ``files`` (a model version's, by
    role) or the configured ones (:func:`detector_files`)."""
    options: dict[str, Any] = {
        "score_threshold": settings.detector_score_threshold,
        "max_side": settings.detect_max_side,
        "num_threads": settings.intra_op_threads if num_threads is None else num_threads}
    if files is None and settings.detector in ("yunet", "yunet_onet"):
        files = detector_files(settings)
    files = files or {}
    if "detector" in files and settings.detector != "mtcnn":
        options["model_path"] = files["detector"]
    return create_detector(settings.detector, cache_dir=settings.model_cache_dir,
                           onet_path=files.get("onet"), **options)


def detector_names() -> list[str]:
    """Names of the registered detectors."""
    return DETECTORS.names()
