"""The decision policy: from measurements to ACCEPT, REVIEW or REJECT with a reason.

Pure and total: every input, including a missing measurement, maps to a verdict,
and no path that lacks evidence of a match reaches ACCEPT.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeGuard

ACCEPT, REVIEW, REJECT = "ACCEPT", "REVIEW", "REJECT"

# Failures of the system, not of the student: a proctor decides instead.
_FAIL_CLOSED = {"TEMPLATE_UNAVAILABLE", "MODEL_UNAVAILABLE", "FRAME_UNAVAILABLE",
                "INTERNAL_ERROR", "INVALID_EVENT"}
# float32 dot products of unit vectors land a hair outside [-1, 1]; a score further out is
# not a cosine similarity at all (an unnormalised embedding), and no threshold applies to it.
_COSINE_SLACK = 1e-3


def _is_finite_number(value: object) -> TypeGuard[float]:
    """A real number, not a bool, neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the range of a float
        return False


def _is_cosine(value: object) -> TypeGuard[float]:
    return _is_finite_number(value) and abs(value) <= 1.0 + _COSINE_SLACK


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
    # The score above which 1 % of the pairs of calibration people's templates lie (one
    # template each): what an enrolled cohort's own tail is compared with to raise ``accept``
    # for students more alike than those (examgate.core.cohort.thresholds_among). None: not
    # measured (versions registered before it), and never raised.
    cohort_tail: float | None = None

    def __post_init__(self) -> None:
        # Thresholds come from stored specs (JSON reads NaN and Infinity): a model version
        # with nonsense in them must not load, rather than decide with it.
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "cohort_tail":
                continue
            if not _is_finite_number(value):
                raise ValueError(f"Thresholds.{f.name} must be a finite number, got {value!r}")
        if not 0.0 < self.accept <= 1.0:
            # Impostor scores centre near 0: an accept threshold at or below it lets strangers in.
            raise ValueError(f"Thresholds.accept must be in (0, 1], got {self.accept}")
        if not -1.0 <= self.reject <= self.accept:
            raise ValueError(f"Thresholds.reject must be in [-1, accept={self.accept}], "
                             f"got {self.reject}")
        if not self.accept < self.replay <= 1.0:
            # A probe at least this close to one enrollment photo is REJECTed as a replay, so
            # a replay threshold at or below accept would turn away clear genuine matches.
            raise ValueError(f"Thresholds.replay must be in (accept={self.accept}, 1], "
                             f"got {self.replay}")
        for name in ("accept_far", "reject_far"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Thresholds.{name} is a rate in [0, 1], "
                                 f"got {getattr(self, name)}")
        if self.cohort_tail is not None and not _is_cosine(self.cohort_tail):
            raise ValueError(f"Thresholds.cohort_tail must be a cosine similarity, "
                             f"got {self.cohort_tail}")

    def as_record(self) -> dict[str, float]:
        """The Avro ``Thresholds`` record."""
        return {"accept": self.accept, "reject": self.reject, "accept_far": self.accept_far,
                "reject_far": self.reject_far, "replay": self.replay}

    def as_spec(self) -> dict[str, float]:
        """What a model version's spec stores: the record, and the calibration people's pair
        tail where it was measured."""
        tail = {} if self.cohort_tail is None else {"cohort_tail": self.cohort_tail}
        return {**self.as_record(), **tail}


LIVE, UNCERTAIN, ATTACK, NOT_CHECKED = "LIVE", "UNCERTAIN", "ATTACK", "NOT_CHECKED"


@dataclass(frozen=True)
class LivenessCheck:
    """The fused live score of a check-in and the thresholds of the model version judging it.

    ``single_frame``: no usable burst, so the score rests on the single-frame detector
    and the context cues alone; ``single_frame_ok``: the gate is configured as a
    single-frame gate, where that is allowed to pass.
    """

    score: float | None
    pass_threshold: float
    attack_threshold: float
    single_frame: bool = False
    single_frame_ok: bool = False
    fired: tuple[str, ...] = ()
    why: str = ""  # what kept the score down, in a few words (see fusion.why_not_live)

    def __post_init__(self) -> None:
        for name in ("pass_threshold", "attack_threshold"):
            value = getattr(self, name)
            if not _is_finite_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"LivenessCheck.{name} must be in [0, 1], got {value!r}")
        if self.attack_threshold > self.pass_threshold:
            raise ValueError(f"LivenessCheck.attack_threshold ({self.attack_threshold}) is "
                             f"above pass_threshold ({self.pass_threshold})")

    @property
    def refusal(self) -> str:
        """Why the face did not pass, in a few words: what the check named, else the score
        itself; "" when it passed or no valid score was measured."""
        if self.verdict in (LIVE, NOT_CHECKED):
            return ""
        return self.why or "score below the pass threshold"

    @property
    def verdict(self) -> str:
        """LIVE, UNCERTAIN, ATTACK, or NOT_CHECKED when no valid score was measured."""
        score = self.score
        if not _is_finite_number(score) or not 0.0 <= score <= 1.0:
            return NOT_CHECKED
        if score < self.attack_threshold:
            return ATTACK
        if score >= self.pass_threshold and (not self.single_frame or self.single_frame_ok):
            return LIVE
        return UNCERTAIN


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


def _liveness_words(check: LivenessCheck) -> str:
    fired = f"; signals: {', '.join(check.fired)}" if check.fired else ""
    if not check.fired and check.why:
        fired = f"; {check.why}"
    return (f"live score {check.score:.3f} (pass >= {check.pass_threshold:.3f}, attack < "
            f"{check.attack_threshold:.3f}){fired}")


def decide(*, enrolled: bool, face_count: int, quality_failures: list[str] | tuple[str, ...],
           similarity: float | None, replay_similarity: float | None,
           thresholds: Thresholds, liveness: LivenessCheck | None) -> Verdict:
    """Decide one check-in from what the pipeline measured.

    Liveness is judged before matching: a confident presentation attack is
    REJECT whatever the match, and ACCEPT needs a LIVE verdict (a single-frame
    check-in only at a gate configured as single-frame). A frame nearly identical to
    an enrollment photo is REJECT as a replay before liveness is weighed (a still
    copy of a photo is no evidence of anything live). A missing, non-finite
    or out-of-range measurement is a failure of the system: REVIEW, never ACCEPT.
    """
    if not isinstance(thresholds, Thresholds):
        return fail_closed("MODEL_UNAVAILABLE", "the model version has no decision thresholds")
    if not enrolled:
        return Verdict(REVIEW, "NOT_ENROLLED",
                       "no template for this student and model: check the ID card by hand")
    if (isinstance(face_count, bool) or not isinstance(face_count, numbers.Integral)
            or face_count < 0):
        return fail_closed("INTERNAL_ERROR", f"face count {face_count!r} is not a count")
    if face_count == 0:
        return Verdict(REVIEW, "NO_FACE", "no face found: ask the student to face the camera")
    if face_count > 1:
        return Verdict(REVIEW, "MULTIPLE_FACES",
                       f"{face_count} faces in view: one student at a time")
    live = liveness.verdict if isinstance(liveness, LivenessCheck) else NOT_CHECKED
    if live == ATTACK:
        assert isinstance(liveness, LivenessCheck)
        return Verdict(REJECT, "PRESENTATION_ATTACK",
                       "a photo or screen, not a live face: " + _liveness_words(liveness))
    if not isinstance(quality_failures, list | tuple):
        return fail_closed("INTERNAL_ERROR",
                           f"the quality checks did not report ({quality_failures!r})")
    if quality_failures:
        return Verdict(REVIEW, "LOW_QUALITY",
                       "image quality: " + ", ".join(map(str, quality_failures)))
    if _is_cosine(replay_similarity) and replay_similarity >= thresholds.replay:
        # The enrollment photo itself, sent again: an attack whatever liveness says.
        return Verdict(REJECT, "REPLAY_SUSPECTED",
                       f"probe is nearly identical to an enrollment photo "
                       f"({replay_similarity:.4f} >= {thresholds.replay})")
    if live == NOT_CHECKED:
        return Verdict(REVIEW, "LIVENESS_UNCERTAIN",
                       "liveness was not checked (no liveness model or no valid score): "
                       "a proctor compares the face with the ID card")
    if live == UNCERTAIN:
        assert isinstance(liveness, LivenessCheck)
        if liveness.single_frame and not liveness.single_frame_ok:
            why = "one frame only, and this gate is not configured as single-frame: "
        else:
            why = "not clearly a live face: "
        return Verdict(REVIEW, "LIVENESS_UNCERTAIN", why + _liveness_words(liveness))
    if not _is_cosine(similarity):
        return fail_closed("INTERNAL_ERROR",
                           f"no valid similarity score was computed ({similarity!r})")
    if not _is_cosine(replay_similarity):
        return fail_closed("INTERNAL_ERROR",
                           f"no valid replay similarity was computed ({replay_similarity!r})")
    if similarity >= thresholds.accept:
        return Verdict(ACCEPT, "MATCH", f"similarity {similarity:.3f} >= {thresholds.accept:.3f}")
    if similarity < thresholds.reject:
        return Verdict(REJECT, "NO_MATCH",
                       f"similarity {similarity:.3f} < {thresholds.reject:.3f}")
    return Verdict(REVIEW, "UNCERTAIN_MATCH",
                   f"similarity {similarity:.3f} between {thresholds.reject:.3f} "
                   f"and {thresholds.accept:.3f}")


# Refusals a prompted head turn can settle: nothing fired or came near firing, the burst only
# lacked the 3D motion of a head (the words of examgate.vision.liveness.fusion.why_not_live).
SECOND_LOOK_WHY = frozenset({"too little motion", "too little relief", "motion too flat"})
SECOND_LOOK_PROMPT = ("Please turn your head slowly a little to one side and back, "
                      "looking at the camera.")


def second_look(decision: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"prompt", "why"}`` when a gate may ask the student to move and check in again.

    Only for REVIEW ``LIVENESS_UNCERTAIN`` whose burst was clean but too still to show a
    head: a still face cannot be told from a photo held still, and a turning head can. The
    new check-in is decided on its own, by the same rules, so a second look never loosens
    anything: a print that is turned moves as a plane and is caught, one held still stays
    REVIEW. A gate should offer one second look, not a loop.
    """
    live = decision.get("liveness") or {}
    if decision.get("reason") != "LIVENESS_UNCERTAIN" or not isinstance(live, Mapping):
        return None
    why = live.get("why")
    if not turning_settles(live.get("fired"), why):
        return None
    return {"prompt": SECOND_LOOK_PROMPT, "why": str(why)}


def turning_settles(fired: object, why: object) -> bool:
    """Whether a head turn could settle a liveness refusal: nothing fired, and all it
    lacked was a head's 3D motion."""
    return not fired and isinstance(why, str) and why in SECOND_LOOK_WHY
