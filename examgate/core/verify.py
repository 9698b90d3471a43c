"""Verification of one check-in, transport-free: frame in, Decision record out.

The Kafka processor wraps this; unit tests drive it with in-memory ports. Every
failure on the way (frame, template store, model) becomes a REVIEW with a reason:
the one place that could produce ACCEPT is :func:`examgate.core.policy.decide`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from examgate.core import lookalikes, policy
from examgate.core.cohort import CohortCache, thresholds_among
from examgate.core.events import object_ref, utcnow
from examgate.core.gate_signatures import GateSignatures
from examgate.core.matching import Analysis, LivenessModel, judge, liveness_record
from examgate.core.policy import LivenessCheck, Thresholds, Verdict
from examgate.core.ports import (
    EventLedger,
    EventLedgerError,
    ObjectStore,
    ObjectStoreError,
    TemplateStore,
    TemplateStoreError,
)
from examgate.core.settings import VisionSettings

log = logging.getLogger("examgate.verify")

# The gate producer stores a frame too large to travel inline as incoming/<gate id>/<event id>
# in the frames bucket: a check-in may reference that, and nothing else.
GATE_UPLOADS = "incoming"
DEFAULT_MAX_FRAME_BYTES: int = VisionSettings.model_fields["max_image_bytes"].default


class StaleCheckIn(Exception):
    """A check-in that is not a student at the gate now: captured too long ago (or in the
    future), or sent from a gate that is not one of its exam's."""


class DuplicateEvent(Exception):
    """A check-in whose event id another record carried first: it is not decided again."""


class FrameRefused(ObjectStoreError):
    """A frame the verifier will not read: not the gate's own upload, or over the size cap."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # the Decision's ReasonCode: INVALID_EVENT or FRAME_UNAVAILABLE


@runtime_checkable
class BoundedReads(Protocol):
    """An object store that reads an object only when it is at most ``max_bytes`` long."""

    def get_at_most(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The bytes at ``bucket/key``; ObjectStoreError when missing, unreachable or larger."""
        ...


def is_gate_upload(key: str, gate_id: str) -> bool:
    """Whether ``key`` names a frame uploaded by gate ``gate_id`` (``incoming/<gate>/<name>``,
    no empty, ``.`` or ``..`` segment that a store might resolve elsewhere)."""
    parts = key.split("/")
    return (len(parts) == 3 and parts[0] == GATE_UPLOADS and parts[1] == gate_id
            and "\\" not in key and all(p not in ("", ".", "..") for p in parts))


class FaceAnalyzer(Protocol):
    """A loaded model version that turns encoded images into an :class:`Analysis`."""

    model_version: str
    thresholds: Thresholds
    liveness_model: LivenessModel | None  # None: a version without liveness never ACCEPTs

    def analyse(self, image: bytes, burst: Sequence[bytes] = (), *,
                enrolling: bool = False) -> Analysis:
        """Decode, detect, judge quality, align and embed one image; check liveness on it and
        the burst of frames captured right after it. ``enrolling``: the embedding is for a
        template (the model version says how templates are embedded)."""
        ...


@dataclass
class VerifyResult:
    """A decision record plus what the processor should keep for the console."""

    decision: dict[str, Any]
    verdict: Verdict


def in_canary(gate_id: str, fraction: float) -> bool:
    """Whether a gate is one of the ``fraction`` of gates that decide with the challenger.

    A stable hash, so a gate stays in or out of the canary on every worker.
    """
    if fraction <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(gate_id.encode()).digest()[:4], "big") / 2**32
    return bucket < fraction


class Verifier:
    """Decides check-ins with the champion (or, on canary gates, the challenger); the other
    model, if any, is scored in shadow beside the decision."""

    def __init__(self, templates: TemplateStore, objects: ObjectStore, frames_bucket: str,
                 champion: FaceAnalyzer, challenger: FaceAnalyzer | None = None,
                 processor_id: str = "verify",
                 clock: Callable[[], float] = time.perf_counter,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 max_capture_age_s: float = 300.0, max_clock_skew_s: float = 60.0,
                 max_extra_frames: int = 8, single_frame_gates: Sequence[str] = (),
                 lookalike_margin: float = lookalikes.MARGIN, cohort_check: bool = True,
                 cohort_threshold: bool = True, events_seen: EventLedger | None = None,
                 event_memory_s: float = 86_400.0,
                 gate_check: Callable[[str, str], str | None] | None = None,
                 gate_signatures: GateSignatures | None = None) -> None:
        self.templates = templates
        self.objects = objects
        self.frames_bucket = frames_bucket
        self.champion = champion
        self.challenger = challenger
        self.processor_id = processor_id
        self.max_frame_bytes = max_frame_bytes
        self.max_capture_age_s = max_capture_age_s
        self.max_clock_skew_s = max_clock_skew_s
        self.max_extra_frames = max_extra_frames
        self.single_frame_gates = tuple(single_frame_gates)
        self.lookalike_margin = lookalike_margin
        # The enrolled cohort, to hold ACCEPTs against and to raise the accept threshold by.
        self.cohort_check, self.cohort_threshold = cohort_check, cohort_threshold
        self.cohorts = (CohortCache(templates, measure_tail=cohort_threshold)
                        if cohort_check or cohort_threshold else None)
        self.events_seen = events_seen
        self.event_memory_s = event_memory_s
        # (exam id, gate id) -> why that gate may not check in for that exam, or None.
        self.gate_check = gate_check or (lambda exam_id, gate_id: None)
        self.gate_signatures = gate_signatures
        self.canary_fraction = 0.0
        self._clock = clock
        self._uploads = ThreadPoolExecutor(1 + max_extra_frames, thread_name_prefix="review")

    def capture_problem(self, captured_at: datetime, now: datetime | None = None) -> str | None:
        """Why a check-in captured at ``captured_at`` cannot be decided now, or None: a frame
        captured long ago is a replayed check-in, not a student at the gate."""
        age = ((now or datetime.now(UTC)) - captured_at).total_seconds()
        if age > self.max_capture_age_s:
            return (f"captured {age:.0f} s ago (limit {self.max_capture_age_s:.0f} s): a "
                    "replayed or long-delayed check-in")
        if -age > self.max_clock_skew_s:
            return (f"captured {-age:.0f} s in the future (clock skew limit "
                    f"{self.max_clock_skew_s:.0f} s): check the gate's clock")
        return None

    def check_new(self, event_id: str, source: str | None) -> None:
        """Raise :class:`DuplicateEvent` when a record other than ``source`` (topic, partition
        and offset) carried ``event_id`` first; EventLedgerError when that cannot be known."""
        if source is None or self.events_seen is None:
            return
        first = self.events_seen.first_seen(event_id, source, self.event_memory_s)
        if first != source:
            raise DuplicateEvent(f"event {event_id} was first published as {first}; "
                                 f"{source} carries it again")

    def models_for(self, gate_id: str) -> tuple[FaceAnalyzer, FaceAnalyzer | None]:
        """(the model that decides, the model scored in shadow) for a gate."""
        champion, challenger = self.champion, self.challenger  # one read: reloads swap these
        if challenger is not None and in_canary(gate_id, self.canary_fraction):
            return challenger, champion
        return champion, challenger

    def fetch_frame(self, frame: dict[str, Any], gate_id: str | None = None) -> bytes:
        """The frame bytes, inline or from the frames bucket (size-capped, checksum verified).

        With ``gate_id`` (a check-in), a reference must name that gate's own upload.
        Refusals raise :class:`FrameRefused` before anything is read; a missing,
        unreachable or tampered object raises ObjectStoreError.
        """
        cap = self.max_frame_bytes
        if "data" in frame:
            if len(frame["data"]) > cap:
                raise FrameRefused("FRAME_UNAVAILABLE", f"inline frame of {len(frame['data'])} "
                                   f"bytes is over the {cap}-byte limit")
            return frame["data"]
        bucket, key = frame["bucket"], frame["key"]
        where = f"{bucket}/{key}"
        if bucket != self.frames_bucket:
            raise FrameRefused("INVALID_EVENT", f"{where} is outside the frames bucket")
        if gate_id is not None and not is_gate_upload(key, gate_id):
            raise FrameRefused("INVALID_EVENT", f"{where} is not an upload of gate {gate_id}")
        if frame["size_bytes"] > cap:
            raise FrameRefused("FRAME_UNAVAILABLE", f"{where} is {frame['size_bytes']} bytes, "
                               f"over the {cap}-byte limit")
        data = self._read_at_most(bucket, key, cap)
        if hashlib.sha256(data).hexdigest() != frame["sha256"]:
            raise ObjectStoreError(f"{where} fails its SHA-256 check")
        return data

    def fetch_burst(self, frames: Sequence[dict[str, Any]], gate_id: str) -> list[bytes]:
        """The burst frames a gate sent after the primary, at most ``max_extra_frames`` of them.

        A reference outside the gate's own uploads is refused like the primary's (raises
        :class:`FrameRefused`); a frame the store cannot give is left out, which leaves
        liveness with less evidence, never with more.
        """
        out = []
        for frame in frames[: self.max_extra_frames]:
            try:
                out.append(self.fetch_frame(frame, gate_id=gate_id))
            except FrameRefused:
                raise
            except ObjectStoreError as exc:
                log.warning("verify: a burst frame is unavailable, left out: %s", exc)
        return out

    def liveness_check(self, analyzer: FaceAnalyzer, analysis: Analysis,
                       gate_id: str) -> LivenessCheck | None:
        """The liveness result for the policy; None when the version has no liveness model."""
        model = getattr(analyzer, "liveness_model", None)
        if not isinstance(model, LivenessModel):
            return None
        reading = analysis.liveness
        return LivenessCheck(
            score=None if reading is None else reading.score,
            pass_threshold=model.pass_threshold, attack_threshold=model.attack_threshold,
            single_frame=True if reading is None else reading.single_frame,
            single_frame_ok=any(fnmatch.fnmatchcase(gate_id, p) for p in self.single_frame_gates),
            fired=() if reading is None else reading.fired,
            why="" if reading is None else reading.why)

    def _read_at_most(self, bucket: str, key: str, cap: int) -> bytes:
        if isinstance(self.objects, BoundedReads):
            return self.objects.get_at_most(bucket, key, cap)
        data = self.objects.get(bucket, key)  # a store that cannot bound a read: check after
        if len(data) > cap:
            raise FrameRefused("FRAME_UNAVAILABLE", f"{bucket}/{key} is {len(data)} bytes, "
                               f"over the {cap}-byte limit")
        return data

    def _score(self, analyzer: FaceAnalyzer, analysis: Analysis, student_id: str,
               stage_ms: dict[str, float], liveness: LivenessCheck | None
               ) -> tuple[Verdict, float | None, Thresholds]:
        """The verdict, the similarity and the thresholds it was judged with."""
        t0 = self._clock()
        thresholds = analyzer.thresholds
        try:
            template = self.templates.get(student_id, analyzer.model_version)
            # The look-alikes' templates too: a store that cannot give them fails closed.
            rivals = self.templates.get_many(
                (s for s, _ in (template.lookalikes if template else ())),
                analyzer.model_version)
            cohort = self.cohorts.get(analyzer.model_version) if self.cohorts else None
        except TemplateStoreError as exc:
            return policy.fail_closed("TEMPLATE_UNAVAILABLE", str(exc)), None, thresholds
        finally:
            stage_ms["template_fetch"] = (self._clock() - t0) * 1000
        t1 = self._clock()
        try:
            thresholds = thresholds_among(thresholds, cohort if self.cohort_threshold else None)
            return (*judge(analysis, template, thresholds, liveness, rivals,
                           self.lookalike_margin, cohort if self.cohort_check else None),
                    thresholds)
        finally:
            stage_ms["match"] = (self._clock() - t1) * 1000

    def verify(self, checkin: dict[str, Any], source: str | None = None, *,
               payload: bytes | None = None, signature: bytes | None = None) -> VerifyResult:
        """Decide one decoded CheckIn record, read from ``source`` (its topic, partition and
        offset; with a ledger, raises :class:`DuplicateEvent` when another record carried its
        event id first). ``payload`` and ``signature``: the record's bytes and its gate
        signature header, checked when gates have keys."""
        stage_ms: dict[str, float] = {}
        sim: float | None = None
        quality: dict[str, Any] | None = None
        shadow = None
        frame: bytes | None = None
        burst: list[bytes] = []
        liveness: dict[str, Any] | None = None
        gate_id = checkin["gate_id"]
        decider, shadow_model = self.models_for(gate_id)
        used = decider.thresholds  # raised among the enrolled cohort when it is read
        unknown_id: str | None = None
        # Before the event id is remembered: a forged record must not use up the id of the
        # genuine check-in (which would then be a dead letter DUPLICATE_EVENT).
        forged = (self.gate_signatures.problem(gate_id, payload or b"", signature)
                  if self.gate_signatures is not None else None)
        if forged is None:
            try:
                self.check_new(checkin["event_id"], source)
            except EventLedgerError as exc:
                # Decided without knowing whether it is a replay: never an ACCEPT (below),
                # but looked at as usual, so that a proctor reviewing it sees the face.
                unknown_id = f"the store of seen event ids is unreachable: {exc}"
        try:
            if forged is not None:
                raise StaleCheckIn(forged)
            if (stale := self.capture_problem(checkin["captured_at"])) is not None:
                raise StaleCheckIn(stale)
            if (elsewhere := self.gate_check(checkin["exam_id"], gate_id)) is not None:
                raise StaleCheckIn(elsewhere)
            t0 = self._clock()
            try:
                frame = self.fetch_frame(checkin["frame"], gate_id=gate_id)
                burst = self.fetch_burst(checkin.get("extra_frames") or [], gate_id)
            finally:
                stage_ms["fetch_frame"] = (self._clock() - t0) * 1000
            analysis = decider.analyse(frame, burst)
            stage_ms.update(analysis.stage_ms)
            quality = dict(analysis.quality, face_count=analysis.face_count,
                           failed=list(analysis.quality_failures))
            check = self.liveness_check(decider, analysis, gate_id)
            liveness = liveness_record(check, analysis.liveness, decider)
            verdict, sim, used = self._score(decider, analysis,
                                             checkin["claimed_student_id"], stage_ms, check)
            if shadow_model is not None:
                shadow = self._shadow(shadow_model, frame, burst, checkin)
        except StaleCheckIn as exc:
            verdict = policy.fail_closed("INVALID_EVENT", str(exc))
        except FrameRefused as exc:
            verdict = policy.fail_closed(exc.reason, str(exc))
        except ObjectStoreError as exc:
            verdict = policy.fail_closed("FRAME_UNAVAILABLE", str(exc))
        except Exception as exc:  # noqa: BLE001 - any model failure must fail closed
            log.exception("verify: internal error on event %s", checkin.get("event_id"))
            verdict = policy.fail_closed("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        if unknown_id is not None and verdict.outcome == policy.ACCEPT:
            verdict = policy.fail_closed("TEMPLATE_UNAVAILABLE", unknown_id)
        review_ref, review_burst = None, []
        kept = verdict.outcome == policy.REVIEW or verdict.reason == "PRESENTATION_ATTACK"
        if kept and frame is not None:
            t0 = self._clock()
            # One upload per frame at once: a burst costs one round trip, not five.
            refs = list(self._uploads.map(lambda kd: self._keep_for_review(checkin, kd[1], kd[0]),
                                          enumerate([frame, *burst])))
            review_ref, review_burst = refs[0], [r for r in refs[1:] if r is not None]
            stage_ms["keep_for_review"] = (self._clock() - t0) * 1000
        decision = {
            "event_id": checkin["event_id"], "gate_id": checkin["gate_id"],
            "exam_id": checkin["exam_id"], "claimed_student_id": checkin["claimed_student_id"],
            "outcome": verdict.outcome, "reason": verdict.reason,
            "reason_detail": verdict.detail, "similarity": sim,
            "thresholds": used.as_record(),
            "model_version": decider.model_version, "quality": quality, "liveness": liveness,
            "latency_ms": {k: round(v, 3) for k, v in stage_ms.items()}, "shadow": shadow,
            "review_frame": review_ref, "review_burst": review_burst,
            "captured_at": checkin["captured_at"],
            "published_at": checkin["published_at"], "decided_at": utcnow(),
            "processor_id": self.processor_id,
        }
        return VerifyResult(decision, verdict)

    def _shadow(self, model: FaceAnalyzer, frame: bytes, burst: list[bytes],
                checkin: dict[str, Any]) -> dict[str, Any] | None:
        try:
            analysis = model.analyse(frame, burst)
            check = self.liveness_check(model, analysis, checkin["gate_id"])
            verdict, sim, _ = self._score(model, analysis, checkin["claimed_student_id"], {},
                                          check)
        except Exception as exc:  # noqa: BLE001 - the shadow never affects the decision
            log.warning("verify: shadow model failed: %s", exc)
            return None
        return {"model_version": model.model_version, "similarity": sim,
                "outcome": verdict.outcome, "reason": verdict.reason}

    def _keep_for_review(self, checkin: dict[str, Any], frame: bytes,
                         burst_index: int = 0) -> dict[str, Any] | None:
        # Keyed by the claimed student, so deleting a student removes these too.
        suffix = f"-{burst_index}" if burst_index else ""
        key = f"review/{checkin['claimed_student_id']}/{checkin['event_id']}{suffix}.jpg"
        try:
            self.objects.put(self.frames_bucket, key, frame, "image/jpeg")
        except ObjectStoreError as exc:
            log.warning("verify: could not keep frame for review: %s", exc)
            return None
        return object_ref(self.frames_bucket, key, frame)
