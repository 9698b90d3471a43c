"""Settings of check-ins before any face is looked at: a section of
:class:`examgate.core.settings.Settings`.

It lives in its own module only to keep ``settings.py`` within the project's module size;
it is configured exactly like the sections there (frozen, unknown keys rejected, every
default validated) and is re-exported as ``examgate.core.settings.CheckInSettings``.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from examgate.core.signing import ModelVerifier


class CheckInSettings(BaseModel):
    """What makes a check-in decidable at all, before any face is looked at."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    max_capture_age_s: float = Field(300.0, gt=0, description=(
        "A frame captured longer ago than this is REVIEW INVALID_EVENT: a replayed or "
        "long-delayed check-in, not a student at the gate (covers a broker outage and a "
        "worker restart, which delay decisions by a minute or two)."))
    max_clock_skew_s: float = Field(60.0, ge=0, description=(
        "A capture time this far in the future is REVIEW INVALID_EVENT: the gate's clock is "
        "wrong, so its freshness cannot be judged."))
    max_extra_frames: int = Field(8, ge=0, le=32, description=(
        "Burst frames read per check-in at most (liveness); further ones are ignored."))
    parallel: int = Field(2, ge=1, le=16, description=(
        "Check-ins of one transaction decided at once by a worker (threads; the models "
        "release the GIL): with bursts one check-in keeps about one core busy for ~50 ms, "
        "so one worker uses both cores of a small node. 1 decides them one after another."))
    lookalike_margin: float = Field(0.05, ge=0, le=1, description=(
        "ACCEPT becomes REVIEW LOOKALIKE when the face fits a look-alike of the claimed "
        "student (>= reject threshold) within this of the claimed similarity (see "
        "examgate.core.lookalikes for what 0.05 costs and stops)."))
    accept_at_least: float | None = Field(None, gt=0, le=0.95, description=(
        "Serve every model version with an accept threshold of at least this (cosine), "
        "for a population more alike than the one the version was calibrated on: "
        "`examgate enroll --report` measures that among the enrolled students and says "
        "which threshold would hold the promise there. Decisions record the threshold "
        "used. Unset: each version's own calibrated threshold."))
    cohort_check: bool = Field(True, description=(
        "Also hold an ACCEPT against every enrolled template of the model version, not only "
        "the claimed student's known look-alikes: a face that fits another enrolled student "
        "as well (same reject threshold and margin) is REVIEW LOOKALIKE. Stops most false "
        "accepts between enrolled students (see examgate.core.cohort); costs one Redis read "
        "a check-in, and a read of the whole cohort after each enrollment."))
    cohort_threshold: bool = Field(True, description=(
        "Raise a model version's accept threshold among the students enrolled with it when "
        "they are more alike than the people it was calibrated on: by how far the score "
        "above which 1% of their template pairs lie is above the calibration people's "
        "(never lowered; from 40 students; see examgate.core.cohort). Decisions record the "
        "threshold used. Off: each version's threshold as calibrated."))
    single_frame_gates: tuple[str, ...] = Field((), description=(
        "Gate ids (shell patterns, e.g. 'kiosk-*') that can only send one frame: there a "
        "check-in may pass liveness on the single-frame detector alone, and the decision says "
        "so. Anywhere else a check-in without a burst is REVIEW LIVENESS_UNCERTAIN."))
    event_memory_s: float = Field(86_400.0, gt=0, description=(
        "How long the verify processors remember each event id they decided (in Redis, one "
        "small key each): another record with a remembered id gets a dead letter "
        "DUPLICATE_EVENT, not a second decision. Keep it above max_capture_age_s + "
        "max_clock_skew_s, after which a republished check-in is stale anyway."))
    exam_gates: dict[str, tuple[str, ...]] = Field(default_factory=dict, description=(
        "The gates of each exam: exam id -> gate ids (shell patterns, e.g. 'hall-b-*'), "
        "from the exam office's timetable. When set, a check-in for an exam not listed, or "
        "from a gate not among its exam's, is REVIEW INVALID_EVENT. Empty (the default) "
        "checks nothing; the processors say so when they start."))

    gate_keys: dict[str, tuple[str, ...]] = Field(default_factory=dict, description=(
        "Each gate's Ed25519 public keys (base64; several during a rotation), by gate id or "
        "pattern ('kiosk-*' for the HTTP API's key): a check-in from a listed gate is decided "
        "only if one of them signed it (Kafka header examgate-gate-signature), else REVIEW "
        "INVALID_EVENT. `examgate models keygen` makes a pair."))
    require_gate_signatures: bool = Field(False, description=(
        "Refuse (REVIEW INVALID_EVENT) check-ins from gates without a key in gate_keys. Off, "
        "an unlisted gate's check-ins are decided unsigned and the processors say so."))
    gate_signing_key: SecretStr | None = Field(None, description=(
        "This gate's (or the HTTP API's) Ed25519 private key, base64: what it publishes is "
        "signed with it. Only gates and the API set it."))

    @field_validator("gate_keys")
    @classmethod
    def _keys_are_keys(cls, keys: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """A placeholder or truncated key fails when the process starts."""
        for gate, values in keys.items():
            try:
                ModelVerifier(values)
            except ValueError as exc:
                raise ValueError(f"gate_keys[{gate!r}]: {exc}") from None
        return keys

    @model_validator(mode="after")
    def _memory_outlasts_freshness(self) -> CheckInSettings:
        """A republished id must stay remembered until its check-in is stale anyway."""
        if self.event_memory_s < self.max_capture_age_s + self.max_clock_skew_s:
            raise ValueError("event_memory_s must be at least max_capture_age_s + "
                             "max_clock_skew_s")
        return self

    def gate_problem(self, exam_id: str, gate_id: str) -> str | None:
        """Why ``gate_id`` may not check students in for ``exam_id``, or None."""
        if not self.exam_gates:
            return None
        patterns = self.exam_gates.get(exam_id)
        if patterns is None:
            return f"exam {exam_id} is not in the timetable (checkin.exam_gates)"
        if not any(fnmatch.fnmatchcase(gate_id, p) for p in patterns):
            return f"gate {gate_id} is not a gate of exam {exam_id}"
        return None
