"""The face pipeline as a pure library: arrays and model files in, results out.

``decode`` -> ``detect`` -> ``quality`` -> ``align`` -> ``embed``; see
:class:`FacePipeline`. Nothing here imports PyTorch unless the ``mtcnn``
detector is constructed.
"""

from __future__ import annotations

from examgate.vision.align import ARCFACE_TEMPLATE_112, align_face, similarity_transform
from examgate.vision.decode import DecodeLimits, decode_image
from examgate.vision.detectors import Detector, create_detector, detector_names
from examgate.vision.embedders import Embedder, create_embedder, embedder_names
from examgate.vision.errors import (
    AlignmentError,
    DecodeReason,
    ImageDecodeError,
    MissingExtraError,
    ModelFileError,
    UnknownModelError,
    VisionError,
)
from examgate.vision.pipeline import STAGES, FacePipeline, FaceResult
from examgate.vision.quality import QualityReason, QualityVerdict, assess_quality
from examgate.vision.types import Detection

__all__ = [
    "ARCFACE_TEMPLATE_112", "STAGES", "AlignmentError", "DecodeLimits", "DecodeReason",
    "Detection", "Detector", "Embedder", "FacePipeline", "FaceResult", "ImageDecodeError",
    "MissingExtraError", "ModelFileError", "QualityReason", "QualityVerdict",
    "UnknownModelError", "VisionError", "align_face", "assess_quality", "create_detector",
    "create_embedder", "decode_image", "detector_names", "embedder_names",
    "similarity_transform",
]
