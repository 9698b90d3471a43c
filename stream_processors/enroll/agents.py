"""The enroll slice: build templates for every active model version; bad requests go to the DLQ."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Message

from examgate.adapters.eos import Output
from examgate.core.codec import CodecError
from examgate.core.enrollment import EnrollmentError
from examgate.core.ports import ObjectStoreError, TemplateStoreError
from stream_processors.deadletter import dead_letter
from stream_processors.metrics import ENROLLMENTS
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.enroll")


def _carry_out(rt: Runtime, request: dict) -> None:
    """Apply a request; while the template store is down, wait and retry (never drop it)."""
    images = [rt.verifier.fetch_frame(ref) for ref in request["images"]]
    delay = 0.5
    while True:
        try:
            rt.enroller.apply(request, images, rt.analyzers())
            return
        except TemplateStoreError as exc:
            log.error("enroll: template store unavailable, retrying in %.1f s: %s", delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def handle(rt: Runtime, msg: Message) -> list[Output]:
    """Carry out one enrollment request."""
    reason = detail = None
    action = "?"
    try:
        request = rt.codec.decode(msg.value() or b"", expected="Enrollment").record
        action = request["action"]
        _carry_out(rt, request)
    except CodecError as exc:
        reason, detail = exc.reason, exc.detail
    except EnrollmentError as exc:
        reason, detail = "INVALID_FIELD", f"{exc.reason}: {exc.detail}"
    except ObjectStoreError as exc:
        reason, detail = "FRAME_UNAVAILABLE", str(exc)
    ENROLLMENTS.labels(action, "failed" if reason else "ok").inc()
    if reason is None:
        return []
    return [dead_letter(rt.settings.kafka.topics, rt.codec, msg, reason=reason,
                        detail=detail or "", stage="enroll")]
