"""What a frame showed (:class:`Analysis`), and one claim judged through the policy.

The verifier runs it for each check-in, ``examgate evaluate`` for each claim of a photo
set: one function, so an offline evaluation measures what the gate does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examgate.core import lookalikes, policy
from examgate.core.cohort import Cohort
from examgate.core.policy import LivenessCheck, Thresholds, Verdict
from examgate.core.ports import Template


@dataclass(frozen=True)
class LivenessReading:
    """What the liveness checks measured on a check-in's frames (see examgate.vision.liveness)."""

    score: float  # fused live score in [0, 1]
    frames: int  # frames looked at (1: the primary only)
    single_frame: bool  # no usable burst frame
    signals: dict[str, float] = field(default_factory=dict)
    fired: tuple[str, ...] = ()  # the signals that voted attack
    why: str = ""  # what kept the score from passing, in a few words ("" when nothing did)


@dataclass(frozen=True)
class LivenessModel:
    """The liveness thresholds a model version decides with, and which model files it names."""

    pass_threshold: float
    attack_threshold: float
    models: str = ""  # role:sha256-prefix of each liveness model file


@dataclass(frozen=True)
class Analysis:
    """What the face pipeline found in one frame (and, for liveness, in its burst)."""

    face_count: int
    quality: dict[str, Any]  # fields of the QualityMeasures record
    quality_failures: tuple[str, ...]
    embedding: np.ndarray | None  # (D,) L2-normalised, None when no usable face
    thumbnail: np.ndarray | None  # (32, 32) uint8 aligned face, for replay checks
    stage_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why the image could not be analysed (decode errors)
    liveness: LivenessReading | None = None  # None: no face, or no liveness model


def replay_similarity(template: Template, embedding: np.ndarray,
                      thumbnail: np.ndarray | None) -> float:
    """How close the probe is to the nearest enrollment image (1.0 = the same photo).

    A replayed enrollment photo matches one image almost exactly, both in
    embedding and in pixels, while a live capture of the same person does not.
    """
    emb_sim = float(np.max(template.image_embeddings @ embedding)) \
        if len(template.image_embeddings) else -1.0
    if thumbnail is None or len(template.thumbnails) == 0:
        return emb_sim
    probe = thumbnail.astype(np.float32).ravel()
    probe = (probe - probe.mean()) / (probe.std() + 1e-6)
    refs = template.thumbnails.reshape(len(template.thumbnails), -1).astype(np.float32)
    refs = (refs - refs.mean(axis=1, keepdims=True)) / (refs.std(axis=1, keepdims=True) + 1e-6)
    pix_sim = float(np.max(refs @ probe) / probe.size)
    # Both must agree: a near-duplicate photo is close in pixels and in identity.
    return min(emb_sim, pix_sim)


def judge(analysis: Analysis, template: Template | None, thresholds: Thresholds,
          liveness: LivenessCheck | None, rivals: Mapping[str, Template] | None = None,
          lookalike_margin: float = lookalikes.MARGIN, cohort: Cohort | None = None
          ) -> tuple[Verdict, float | None]:
    """The decision on one analysed frame claimed as ``template``'s student (None: not
    enrolled), and the similarity it was made on: what every check-in and every claim of
    ``examgate evaluate`` goes through. ``rivals``: the templates of the claimed student's
    look-alikes (lookalikes.link); ``cohort``: every template of the version, so that an
    ACCEPT is also held against the enrolled students who are not on that list."""
    if analysis.error is not None:
        return Verdict(policy.REVIEW, "NO_FACE", analysis.error), None
    sim = replay = None
    if template is not None and analysis.embedding is not None:
        sim = float(template.embedding @ analysis.embedding)
        replay = replay_similarity(template, analysis.embedding, analysis.thumbnail)
    verdict = policy.decide(
        enrolled=template is not None, face_count=analysis.face_count,
        quality_failures=analysis.quality_failures, similarity=sim,
        replay_similarity=replay, thresholds=thresholds, liveness=liveness)
    best_other = None
    if (verdict.outcome == policy.ACCEPT and cohort is not None and template is not None
            and analysis.embedding is not None):
        best_other = cohort.best_other(analysis.embedding, template.student_id)
    return lookalikes.guard(verdict, analysis.embedding, sim, rivals or {}, thresholds,
                            lookalike_margin, best_other), sim


def liveness_record(check: LivenessCheck | None, reading: LivenessReading | None,
                    analyzer: object) -> dict[str, Any] | None:
    """The Decision's ``liveness`` record; None when the version has no liveness model."""
    model = getattr(analyzer, "liveness_model", None)
    if check is None or not isinstance(model, LivenessModel):
        return None
    return {"verdict": check.verdict, "score": None if reading is None else reading.score,
            "pass_threshold": check.pass_threshold, "attack_threshold": check.attack_threshold,
            "frames": 0 if reading is None else reading.frames,
            "single_frame": check.single_frame,
            "signals": {} if reading is None else dict(reading.signals),
            "fired": list(check.fired), "models": model.models, "why": check.refusal}
