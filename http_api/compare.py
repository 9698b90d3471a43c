"""``/v1/compare``: whether two photos show the same person, by the served model's pipeline.

Image A plays the enrolled photo and image B the check-in frame, so the verdict and
its reason codes are exactly those of a check-in (quality gates, replay of the same
photo, thresholds of the version), except that liveness, which needs a gate's burst,
is reported and not judged: B is taken as live, and that the accept threshold is the
version's as calibrated: neither photo is of an enrolled cohort, so nothing is raised for
one (examgate.core.cohort.thresholds_among). Nothing is enrolled or stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from examgate.core.matching import Analysis, judge
from examgate.core.ports import Template
from examgate.models.evaluate import liveness_for


def _face(analysis: Analysis) -> dict[str, Any]:
    live = analysis.liveness
    return {"face_count": analysis.face_count, "quality": dict(analysis.quality),
            "quality_failures": list(analysis.quality_failures), "error": analysis.error,
            "liveness": None if live is None else {
                "score": live.score, "single_frame": live.single_frame,
                "fired": list(live.fired)}}


def compare_faces(analyzer: Any, image_a: bytes, image_b: bytes) -> dict[str, Any]:
    """Analyse both images with ``analyzer`` (a FaceAnalyzer) and judge B against A."""
    a, b = analyzer.analyse(image_a), analyzer.analyse(image_b)
    thresholds = analyzer.thresholds
    # A must be usable as a reference; its own problems come first, in the policy's words.
    # Judged against a template that matches nothing, a usable face can only be NO_MATCH.
    dim = 1 if a.embedding is None else len(a.embedding)
    nobody = Template("nobody", analyzer.model_version, np.zeros(dim, np.float32),
                      np.zeros((0, dim), np.float32))
    verdict, similarity = judge(a, nobody, thresholds,
                                liveness_for(analyzer, a, "assume-live"))
    about, similarity = "image_a", None  # no similarity with a reference that is unusable
    # (LIVENESS_UNCERTAIN: a version without liveness models, decided past every face check.)
    usable = verdict.reason in ("NO_MATCH", "LIVENESS_UNCERTAIN")
    if usable and a.embedding is not None:  # now B against A
        reference = Template.from_embeddings(
            "image_a", analyzer.model_version, a.embedding[None],
            None if a.thumbnail is None else a.thumbnail[None])
        # Identity only: B is taken as live, as `examgate evaluate --liveness assume-live`
        # does (a version without liveness models stays REVIEW, as at the gate).
        verdict, similarity = judge(b, reference, thresholds,
                                    liveness_for(analyzer, b, "assume-live"))
        about = "image_b"
    return {"model_version": analyzer.model_version, "outcome": verdict.outcome,
            "reason": verdict.reason, "reason_detail": verdict.detail,
            "concerns": about, "similarity": similarity,
            "thresholds": thresholds.as_record(), "liveness_judged": False,
            "image_a": _face(a), "image_b": _face(b)}
