"""Bytes -> decode -> detect -> quality -> align -> embed, each step public.

A caller that only needs a face count stops after :meth:`FacePipeline.detect`;
the verify processor calls :meth:`FacePipeline.run` and turns a failed verdict
into REVIEW with the verdict's reason. Decode errors are raised, as typed
:class:`ImageDecodeError`, never swallowed: the caller owns the dead-letter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from examgate.core.settings import QualitySettings, VisionSettings
from examgate.vision import align as align_mod
from examgate.vision import decode as decode_mod
from examgate.vision import quality as quality_mod
from examgate.vision.decode import DecodeLimits
from examgate.vision.detectors import STAGE as DETECT_STAGE
from examgate.vision.detectors import Detector, detector_from_settings
from examgate.vision.embedders import STAGE as EMBED_STAGE
from examgate.vision.embedders import Embedder, create_embedder
from examgate.vision.quality import QualityVerdict
from examgate.vision.types import Detection

STAGES = (decode_mod.STAGE, DETECT_STAGE, quality_mod.STAGE, align_mod.STAGE, EMBED_STAGE)
"""Stable stage names, in order, as used in logs, metrics and Decision latencies."""


@dataclass(frozen=True)
class FaceResult:
    """What the pipeline found in one image."""

    verdict: QualityVerdict
    detections: tuple[Detection, ...]
    aligned: np.ndarray | None = None
    embedding: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A face passed every quality gate and was embedded."""
        return self.verdict.ok and self.embedding is not None

    @property
    def face_count(self) -> int:
        """Faces that count for the MULTIPLE_FACES gate (0 when none was found)."""
        measures = self.verdict.measures
        return measures.face_count if measures is not None else 0

    @property
    def quality_failures(self) -> tuple[str, ...]:
        """The failed gates as plain strings."""
        return tuple(str(r) for r in self.verdict.reasons)


class FacePipeline:
    """A detector, an embedder and the gates between them."""

    def __init__(self, detector: Detector, embedder: Embedder,
                 quality: QualitySettings | None = None,
                 limits: DecodeLimits | None = None, align_method: str = "lsq") -> None:
        self.detector = detector
        self.align_method = align_method
        self.embedder = embedder
        self.quality_settings = quality or QualitySettings()
        self.limits = limits or DecodeLimits()

    @classmethod
    def from_settings(cls, settings: VisionSettings) -> FacePipeline:
        """Build the default bundled models named in ``settings``."""
        detector = detector_from_settings(settings)
        embedder = create_embedder(settings.embedder, flip=settings.flip_tta,
                                   intra_op_threads=settings.intra_op_threads)
        limits = DecodeLimits(max_bytes=settings.max_image_bytes,
                              max_pixels=settings.max_image_pixels,
                              min_side=settings.min_image_side)
        return cls(detector, embedder, settings.quality, limits, settings.align_method)

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes to a BGR image, or :class:`ImageDecodeError`."""
        return decode_mod.decode_image(data, self.limits)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every face the detector reports, best score first."""
        return self.detector.detect(decode_mod.to_bgr(image))

    def assess(self, image: np.ndarray, detections: list[Detection]) -> QualityVerdict:
        """Choose the main face and judge it."""
        return quality_mod.assess_quality(image, detections, self.quality_settings)

    def align(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """The 112x112 aligned crop of ``face``."""
        return align_mod.align_face(image, face, self.embedder.input_size, self.align_method)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Embeddings of aligned faces, (N, dim)."""
        return self.embedder.embed(faces)

    def run(self, image_or_bytes: np.ndarray | bytes, *, embed_failed: bool = True,
            on_face: Callable[[np.ndarray, Detection], None] | None = None,
            mirror: bool = False) -> FaceResult:
        """All steps on one image; ``embed_failed`` also embeds a face that failed a gate.

        A face that fails a gate is still embedded by default, so a reviewer
        sees its similarity; ``FaceResult.ok`` stays False all the same.
        ``on_face(image, face)`` is called as soon as the main face is known, before
        alignment and embedding: work on the face (liveness) can start beside them.
        ``mirror`` averages the face's embedding with its mirror image's
        (:meth:`Embedder.embed_with_mirror`: enrollment templates).
        """
        timings: dict[str, float] = {}
        with _timed(timings, decode_mod.STAGE):
            if isinstance(image_or_bytes, bytes | bytearray | memoryview):
                image = self.decode(bytes(image_or_bytes))
            else:
                image = decode_mod.to_bgr(image_or_bytes)
        with _timed(timings, DETECT_STAGE):
            detections = self.detector.detect(image)
        with _timed(timings, quality_mod.STAGE):
            verdict = self.assess(image, detections)
        if on_face is not None and verdict.face is not None:
            on_face(image, verdict.face)
        if verdict.face is None or not (verdict.ok or embed_failed):
            return FaceResult(verdict, tuple(detections), timings_ms=timings)
        with _timed(timings, align_mod.STAGE):
            aligned = self.align(image, verdict.face)
        with _timed(timings, EMBED_STAGE):
            embedding = (self.embedder.embed_with_mirror(aligned[None]) if mirror
                         else self.embed(aligned[None]))[0]
        return FaceResult(verdict, tuple(detections), aligned, embedding, timings)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000.0
