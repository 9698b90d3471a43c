"""The enroll slice: build templates for every active model version; a request that cannot be
carried out, for whatever reason, becomes a dead letter and the worker carries on."""

from __future__ import annotations

import logging

from confluent_kafka import Message

from examgate.adapters.eos import Output
from examgate.core.codec import CodecError
from examgate.core.enrollment import Enroller, EnrollmentError
from examgate.core.ports import ObjectStoreError, TemplateStoreError
from stream_processors.deadletter import dead_letter
from stream_processors.enroll.stores import guarded
from stream_processors.metrics import ENROLLMENTS, ERRORS
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.enroll")
STAGE = "enroll"

# Enrollment errors that are not about the request's fields.
_REASONS = {"STORED_PHOTO_UNREADABLE": "PROCESSING_FAILED",
            "IMAGE_MISSING": "FRAME_UNAVAILABLE", "IMAGE_CORRUPT": "FRAME_UNAVAILABLE"}
_REPLAY = "the request is kept in this dead letter: replay it once the {} is back"


def _enroller(rt: Runtime) -> Enroller:
    """The runtime's enroller over stores that are retried briefly, then presumed down."""
    enroller = rt.slice_state.get(STAGE)
    if enroller is None:
        enroller = rt.slice_state[STAGE] = guarded(rt.enroller)
    return enroller


def handle(rt: Runtime, msg: Message) -> list[Output]:
    """Carry out one enrollment request; never raises for a bad request or a failing store."""
    action = "?"
    try:
        request = rt.codec.decode(msg.value() or b"", expected="Enrollment").record
        action = request["action"]
        enroller = _enroller(rt)
        images = [enroller.fetch_image(ref) for ref in request["images"]]
        enroller.apply(request, images, rt.analyzers())
    except Exception as exc:  # noqa: BLE001 - one request never stops the stream
        ENROLLMENTS.labels(action, "failed").inc()
        reason, detail = _why(exc)
        return [dead_letter(rt.settings.kafka.topics, rt.codec, msg, reason=reason,
                            detail=detail, stage=STAGE)]
    ENROLLMENTS.labels(action, "ok").inc()
    return []


def _why(exc: Exception) -> tuple[str, str]:
    """The dead-letter reason and detail for a request that failed with ``exc``."""
    if isinstance(exc, CodecError):
        return exc.reason, exc.detail
    if isinstance(exc, EnrollmentError):
        return _REASONS.get(exc.reason, "INVALID_FIELD"), f"{exc.reason}: {exc.detail}"
    if isinstance(exc, TemplateStoreError):
        return "PROCESSING_FAILED", f"REPLAYABLE: {exc}; {_REPLAY.format('template store')}"
    if isinstance(exc, ObjectStoreError):
        return "FRAME_UNAVAILABLE", f"REPLAYABLE: {exc}; {_REPLAY.format('object store')}"
    ERRORS.labels(STAGE).inc()
    log.exception("enroll: unexpected failure")
    return "PROCESSING_FAILED", f"{type(exc).__name__}: {exc}"
