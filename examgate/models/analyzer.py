"""Adapts the face pipeline of a registered model version to the verifier's FaceAnalyzer port."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from examgate.adapters.registry import ModelBundle
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.core.verify import Analysis
from examgate.vision import FacePipeline, ImageDecodeError, create_detector, create_embedder
from examgate.vision.decode import DecodeLimits

# Handled by the policy as their own reasons, not as LOW_QUALITY.
_COUNT_REASONS = {"NO_FACE", "MULTIPLE_FACES"}
THUMB_SIDE = 32


def thumbnail(aligned: np.ndarray) -> np.ndarray:
    """A small grey copy of the aligned face, for the pixel-level replay check."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    return cv2.resize(grey, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)


class PipelineAnalyzer:
    """A FacePipeline bound to a model version and its calibrated thresholds."""

    def __init__(self, pipeline: FacePipeline, model_version: str,
                 thresholds: Thresholds) -> None:
        self.pipeline = pipeline
        self.model_version = model_version
        self.thresholds = thresholds

    def analyse(self, image: bytes) -> Analysis:
        """Run the pipeline on encoded image bytes."""
        try:
            result = self.pipeline.run(image)
        except ImageDecodeError as exc:
            return Analysis(0, {}, (), None, None, {}, error=f"image unreadable: {exc}")
        m = result.verdict.measures
        quality = {} if m is None else {
            "face_size_px": m.face_px, "sharpness": m.sharpness, "brightness": m.brightness,
            "clipped_fraction": m.clipped_fraction, "yaw_deg": m.yaw_deg, "roll_deg": m.roll_deg,
            "detector_confidence": m.confidence}
        failures = tuple(r for r in result.quality_failures if r not in _COUNT_REASONS)
        thumb = thumbnail(result.aligned) if result.aligned is not None else None
        return Analysis(result.face_count, quality, failures, result.embedding, thumb,
                        dict(result.timings_ms))


def analyzer_from_bundle(bundle: ModelBundle, settings: Settings) -> PipelineAnalyzer:
    """Build the pipeline of a registered model version from its cached files."""
    v = settings.vision
    detector_opts: dict[str, Any] = {"score_threshold": v.detector_score_threshold,
                                        "max_side": v.detect_max_side,
                                        "num_threads": v.intra_op_threads}
    if "detector" in bundle.files:
        detector_opts["model_path"] = bundle.files["detector"]
    detector = create_detector(bundle.detector, **detector_opts)
    embedder = create_embedder(bundle.embedder, model_path=bundle.files["embedder"],
                               flip=bool(bundle.spec.get("flip_tta", v.flip_tta)),
                               intra_op_threads=v.intra_op_threads)
    limits = DecodeLimits(max_bytes=v.max_image_bytes, max_pixels=v.max_image_pixels,
                          min_side=v.min_image_side)
    # Alignment is part of what the thresholds were calibrated with: the bundle's wins.
    align = str(bundle.spec.get("align_method", v.align_method))
    return PipelineAnalyzer(FacePipeline(detector, embedder, v.quality, limits, align),
                            bundle.version, bundle.thresholds)


def load_analyzer(settings: Settings, alias_or_version: str = "champion") -> PipelineAnalyzer:
    """A registered model version loaded from the registry, ready to analyse images."""
    from examgate.adapters.factory import model_registry

    return analyzer_from_bundle(model_registry(settings).load(alias_or_version), settings)
