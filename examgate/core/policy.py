"""The decision policy: from measurements to ACCEPT, REVIEW or REJECT with a reason.

Pure and total: every input, including a missing measurement, maps to a verdict,
and no path that lacks evidence of a match reaches ACCEPT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ACCEPT, REVIEW, REJECT = "ACCEPT", "REVIEW", "REJECT"

# Failures of the system, not of the student: a proctor decides instead.
_FAIL_CLOSED = {"TEMPLATE_UNAVAILABLE", "MODEL_UNAVAILABLE", "FRAME_UNAVAILABLE",
                "INTERNAL_ERROR", "INVALID_EVENT"}


@dataclass(frozen=True)
class Thresholds:
    """Cosine-similarity thresholds of one model version."""

    accept: float
    reject: float
    accept_far: float = 1e-4
    reject_far: float = 1e-3
    # Replays of the enrollment photo scored 0.982-0.999 in the exam-day run; the most
    # similar genuine capture 0.950.
    replay: float = 0.97

    def __post_init__(self) -> None:
        if not (-1.0 <= self.reject <= self.accept <= 1.0):
            raise ValueError(f"need -1 <= reject ({self.reject}) <= accept ({self.accept}) <= 1")

    def as_record(self) -> dict[str, float]:
        """The Avro ``Thresholds`` record."""
        return {"accept": self.accept, "reject": self.reject, "accept_far": self.accept_far,
                "reject_far": self.reject_far, "replay": self.replay}


@dataclass(frozen=True)
class Verdict:
    """An outcome, the reason code and plain words for the proctor."""

    outcome: str
    reason: str
    detail: str = ""


def fail_closed(reason: str, detail: str) -> Verdict:
    """The verdict for a failure of the system: never ACCEPT."""
    if reason not in _FAIL_CLOSED:
        reason = "INTERNAL_ERROR"
    return Verdict(REVIEW, reason, detail)


def decide(*, enrolled: bool, face_count: int, quality_failures: list[str] | tuple[str, ...],
           similarity: float | None, replay_similarity: float | None,
           thresholds: Thresholds) -> Verdict:
    """Decide one check-in from what the pipeline measured."""
    if not enrolled:
        return Verdict(REVIEW, "NOT_ENROLLED",
                       "no template for this student and model: check the ID card by hand")
    if face_count == 0:
        return Verdict(REVIEW, "NO_FACE", "no face found: ask the student to face the camera")
    if face_count > 1:
        return Verdict(REVIEW, "MULTIPLE_FACES",
                       f"{face_count} faces in view: one student at a time")
    if quality_failures:
        return Verdict(REVIEW, "LOW_QUALITY", "image quality: " + ", ".join(quality_failures))
    if similarity is None or not math.isfinite(similarity):
        return fail_closed("INTERNAL_ERROR", "no similarity score was computed")
    if replay_similarity is not None and replay_similarity >= thresholds.replay:
        return Verdict(REJECT, "REPLAY_SUSPECTED",
                       f"probe is nearly identical to an enrollment photo "
                       f"({replay_similarity:.4f} >= {thresholds.replay})")
    if similarity >= thresholds.accept:
        return Verdict(ACCEPT, "MATCH", f"similarity {similarity:.3f} >= {thresholds.accept:.3f}")
    if similarity < thresholds.reject:
        return Verdict(REJECT, "NO_MATCH",
                       f"similarity {similarity:.3f} < {thresholds.reject:.3f}")
    return Verdict(REVIEW, "UNCERTAIN_MATCH",
                   f"similarity {similarity:.3f} between {thresholds.reject:.3f} "
                   f"and {thresholds.accept:.3f}")
