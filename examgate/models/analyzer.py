"""Adapts the face pipeline of a registered model version to the verifier's FaceAnalyzer port."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from examgate.adapters.registry import ModelBundle
from examgate.core.liveness_settings import LivenessSettings
from examgate.core.matching import Analysis, LivenessModel, LivenessReading
from examgate.core.policy import LivenessCheck, Thresholds
from examgate.core.settings import Settings
from examgate.vision import FacePipeline, ImageDecodeError, create_embedder
from examgate.vision.decode import DecodeLimits
from examgate.vision.detectors import detector_from_settings
from examgate.vision.liveness import LivenessChecker, LivenessEvidence
from examgate.vision.liveness.antispoof import ANTISPOOF_FILES
from examgate.vision.types import Detection

log = logging.getLogger("examgate.analyzer")

# Handled by the policy as their own reasons, not as LOW_QUALITY.
_COUNT_REASONS = {"NO_FACE", "MULTIPLE_FACES"}
THUMB_SIDE = 32


def thumbnail(aligned: np.ndarray) -> np.ndarray:
    """A small grey copy of the aligned face, for the pixel-level replay check."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    return cv2.resize(grey, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)


def reading(evidence: LivenessEvidence) -> LivenessReading:
    """The verifier's view of the liveness evidence."""
    return LivenessReading(evidence.score, evidence.frames, evidence.single_frame,
                           dict(evidence.signals), tuple(evidence.fired), evidence.why)


class PipelineAnalyzer:
    """A FacePipeline bound to a model version, its calibrated thresholds and, when the
    version names liveness models, the liveness checker and its thresholds."""

    def __init__(self, pipeline: FacePipeline, model_version: str,
                 thresholds: Thresholds, liveness: LivenessChecker | None = None,
                 liveness_model: LivenessModel | None = None, *,
                 mirror_templates: bool = False) -> None:
        self.pipeline = pipeline
        self.mirror_templates = mirror_templates
        self.model_version = model_version
        self.thresholds = thresholds
        self.liveness = liveness
        self.liveness_model = liveness_model if liveness is not None else None
        # Liveness runs beside alignment and embedding (ONNX Runtime and OpenCV release the
        # GIL): a burst adds the longer of the two, not their sum.
        self._beside = (ThreadPoolExecutor(2, thread_name_prefix="liveness")
                        if liveness is not None else None)

    def _check(self, image: np.ndarray, face: Detection, burst: Sequence[bytes]
               ) -> tuple[LivenessReading, float]:
        assert self.liveness is not None
        t0 = time.perf_counter()
        evidence = self.liveness.check(image, face, self.decode_burst(burst))
        return reading(evidence), (time.perf_counter() - t0) * 1000

    def decode_burst(self, burst: Sequence[bytes]) -> list[np.ndarray]:
        """The burst frames that decode; one that does not is left out (less evidence)."""
        frames = []
        for data in burst:
            try:
                frames.append(self.pipeline.decode(data))
            except ImageDecodeError as exc:
                log.warning("analyse: a burst frame is unreadable, left out: %s", exc)
        return frames

    def analyse(self, image: bytes, burst: Sequence[bytes] = (), *,
                enrolling: bool = False) -> Analysis:
        """Run the pipeline on encoded image bytes, and liveness on it and its burst;
        ``enrolling`` embeds a template (mirror-averaged where the version says so)."""
        t0 = time.perf_counter()
        try:
            decoded = self.pipeline.decode(image)
        except ImageDecodeError as exc:
            return Analysis(0, {}, (), None, None, {}, error=f"image unreadable: {exc}")
        decode_ms = (time.perf_counter() - t0) * 1000
        pending: list[Future[tuple[LivenessReading, float]]] = []

        def start_liveness(image: np.ndarray, face: Detection) -> None:
            if self._beside is not None:
                pending.append(self._beside.submit(self._check, image, face, burst))

        result = self.pipeline.run(decoded, on_face=start_liveness,
                                   mirror=enrolling and self.mirror_templates)
        timings = dict(result.timings_ms, decode=decode_ms)
        live = None
        if pending:
            t1 = time.perf_counter()
            live, timings["liveness"] = pending[0].result()
            timings["liveness_wait"] = (time.perf_counter() - t1) * 1000
        m = result.verdict.measures
        quality = {} if m is None else {
            "face_size_px": m.face_px, "sharpness": m.sharpness, "brightness": m.brightness,
            "clipped_fraction": m.clipped_fraction, "yaw_deg": m.yaw_deg, "roll_deg": m.roll_deg,
            "detector_confidence": m.confidence}
        failures = tuple(r for r in result.quality_failures if r not in _COUNT_REASONS)
        thumb = thumbnail(result.aligned) if result.aligned is not None else None
        return Analysis(result.face_count, quality, failures, result.embedding, thumb,
                        timings, liveness=live)


def analyzer_from_bundle(bundle: ModelBundle, settings: Settings) -> PipelineAnalyzer:
    """Build the pipeline of a registered model version from its cached files."""
    v = settings.vision
    # The version's detector and its files (YuNet, and the O-net where it names one).
    detector = detector_from_settings(
        v.model_copy(update={"detector": bundle.detector}),
        files={role: bundle.files[role] for role in ("detector", "onet") if role in bundle.files})
    embedder = create_embedder(bundle.embedder, model_path=bundle.files["embedder"],
                               flip=bool(bundle.spec.get("flip_tta", v.flip_tta)),
                               intra_op_threads=v.intra_op_threads)
    limits = DecodeLimits(max_bytes=v.max_image_bytes, max_pixels=v.max_image_pixels,
                          min_side=v.min_image_side)
    # Alignment is part of what the thresholds were calibrated with: the bundle's wins.
    align = str(bundle.spec.get("align_method", v.align_method))
    checker, model = liveness_from_bundle(bundle, settings)
    # So are templates: a version registered before mirrored templates has none.
    mirror = bool(bundle.spec.get("mirror_templates", False))
    return PipelineAnalyzer(FacePipeline(detector, embedder, v.quality, limits, align),
                            bundle.version, served_thresholds(bundle, settings), checker, model,
                            mirror_templates=mirror)


def served_thresholds(bundle: ModelBundle, settings: Settings) -> Thresholds:
    """The version's thresholds, its accept threshold raised to ``checkin.accept_at_least``
    where this deployment sets one above it (never lowered)."""
    floor = settings.checkin.accept_at_least
    t = bundle.thresholds
    if floor is None or floor <= t.accept:
        return t
    log.warning("model version %s: accept threshold raised from %.4f to %.4f "
                "(checkin.accept_at_least)", bundle.version, t.accept, floor)
    # The floor and the raise among the enrolled are two estimates of one threshold: served
    # is the higher (the version's + the cohort's shift, or the floor), not their sum.
    # Moving the calibration tail up as far as the floor moved accept does exactly that.
    tail = None if t.cohort_tail is None else min(1.0, t.cohort_tail + floor - t.accept)
    return dataclasses.replace(t, accept=floor, cohort_tail=tail)


def liveness_from_bundle(bundle: ModelBundle, settings: Settings
                         ) -> tuple[LivenessChecker | None, LivenessModel | None]:
    """The liveness checker and thresholds a model version names, or (None, None) for a
    version registered without them (its check-ins are never accepted: REVIEW)."""
    spec = bundle.spec.get("liveness")
    files = {role: bundle.files[role] for role in ANTISPOOF_FILES if role in bundle.files}
    if not isinstance(spec, dict) or len(files) != len(ANTISPOOF_FILES):
        log.warning("model version %s names no liveness models: its check-ins go to REVIEW "
                    "(register a version with them: examgate bootstrap)", bundle.version)
        return None, None
    try:
        model = LivenessModel(float(spec["pass_threshold"]), float(spec["attack_threshold"]),
                              ",".join(f"{role}:{bundle.spec['files'][role]['sha256'][:12]}"
                                       for role in sorted(files)))
        LivenessCheck(None, model.pass_threshold, model.attack_threshold)  # validates them
    except (KeyError, TypeError, ValueError) as exc:
        log.error("model version %s has invalid liveness thresholds (%s): its check-ins go "
                  "to REVIEW", bundle.version, exc)
        return None, None
    try:  # the scoring rules the thresholds were calibrated with, where the version has them
        rules = LivenessSettings.model_validate({**settings.vision.liveness.model_dump(),
                                                 **dict(spec.get("fusion") or {})})
    except ValueError as exc:
        log.error("model version %s has invalid liveness settings (%s): its check-ins go "
                  "to REVIEW", bundle.version, exc)
        return None, None
    checker = LivenessChecker.from_files(files, rules, threads=settings.vision.intra_op_threads)
    return checker, model


def load_analyzer(settings: Settings, alias_or_version: str = "champion") -> PipelineAnalyzer:
    """A registered model version loaded from the registry, ready to analyse images."""
    from examgate.adapters.factory import model_registry

    return analyzer_from_bundle(model_registry(settings).load(alias_or_version), settings)
