"""Builders for ExamGate events, so that no caller hand-assembles a record the schema would refuse.

Each builder returns a plain dict shaped by its schema in ``schemas/``; the codec
validates it again on encode. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from examgate.core.codec import resolved_schema

Record = dict[str, Any]


def utcnow() -> datetime:
    """Now, in UTC, at millisecond precision (what timestamp-millis keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_event_id() -> str:
    """A fresh random event id."""
    return str(uuid.uuid4())


def inline_frame(data: bytes, content_type: str = "image/jpeg") -> Record:
    """A frame carried inside the event."""
    return {"data": data, "content_type": content_type}


def object_ref(bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> Record:
    """A reference to ``data`` stored at ``bucket/key``, with its checksum and size."""
    return {"bucket": bucket, "key": key, "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data), "content_type": content_type}


def camera(camera_id: str, width: int, height: int, *, source: str = "camera",
           model: str | None = None, exposure_ms: float | None = None) -> Record:
    """Camera metadata for a CheckIn."""
    return {"camera_id": camera_id, "model": model, "width": width, "height": height,
            "exposure_ms": exposure_ms, "source": source}


def checkin(*, gate_id: str, exam_id: str, claimed_student_id: str, frame: Record,
            camera_meta: Record, captured_at: datetime | None = None,
            extra_frames: list[Record] | None = None, attributes: dict[str, str] | None = None,
            event_id: str | None = None) -> Record:
    """A CheckIn event; ``published_at`` is stamped now."""
    now = utcnow()
    return {
        "schema_version": 1, "event_id": event_id or new_event_id(), "gate_id": gate_id,
        "exam_id": exam_id, "claimed_student_id": claimed_student_id,
        "captured_at": captured_at or now, "published_at": now, "frame": frame,
        "extra_frames": extra_frames or [], "camera": camera_meta,
        "attributes": attributes or {},
    }


def enrollment(*, student_id: str, action: str, images: list[Record] | None = None,
               requested_by: str = "registrar", event_id: str | None = None) -> Record:
    """An Enrollment event (ADD, REPLACE or DELETE)."""
    return {"schema_version": 1, "event_id": event_id or new_event_id(),
            "student_id": student_id, "action": action, "images": images or [],
            "requested_at": utcnow(), "requested_by": requested_by}


def feedback(*, decision_event_id: str, verdict: str, reviewer_id: str,
             comment: str | None = None) -> Record:
    """A Feedback event: a reviewer's verdict on a decision."""
    return {"schema_version": 1, "event_id": new_event_id(),
            "decision_event_id": decision_event_id, "verdict": verdict,
            "reviewer_id": reviewer_id, "comment": comment, "reviewed_at": utcnow()}


def model_changed(*, model_name: str, version: str, alias: str,
                  previous_version: str | None = None, canary_fraction: float = 0.0,
                  changed_by: str = "") -> Record:
    """A ModelChanged event announcing that ``alias`` now points at ``version``."""
    return {"schema_version": 1, "event_id": new_event_id(), "model_name": model_name,
            "version": version, "alias": alias, "previous_version": previous_version,
            "canary_fraction": canary_fraction, "changed_at": utcnow(),
            "changed_by": changed_by}


@functools.cache
def dead_letter_reasons() -> frozenset[str]:
    """The reason codes the DeadLetter schema allows (its DeadLetterReason enum)."""
    (field,) = [f for f in resolved_schema("DeadLetter")["fields"] if f["name"] == "reason_code"]
    return frozenset(field["type"]["symbols"])


DEAD_LETTER_DETAIL_MAX = 2000  # characters of the failure's description that are kept
# The default cap on the bytes a dead letter keeps (``kafka.topics.dlq_payload_max_bytes``).
DEAD_LETTER_PAYLOAD_MAX = 256 * 1024


def dead_letter(*, source_topic: str, source_partition: int, source_offset: int,
                key: bytes | None, payload: bytes, reason_code: str, reason_detail: str,
                stage: str, max_payload: int = DEAD_LETTER_PAYLOAD_MAX) -> Record:
    """A DeadLetter record: why a record failed, and its bytes up to ``max_payload``.

    The one builder of dead letters. Above the cap the payload is left out (its
    SHA-256, size and source position say which record it was), and so is a key
    over the cap, so that a dead letter always fits the broker: a record that
    failed for being large must not fail again as its own dead letter. A reason
    the schema does not know becomes PROCESSING_FAILED, with the unknown reason
    kept in the detail: building the record of a failure must not fail in turn.
    """
    if reason_code not in dead_letter_reasons():
        reason_code, reason_detail = "PROCESSING_FAILED", f"{reason_code}: {reason_detail}"
    kept = len(payload) <= max_payload
    if key is not None and len(key) > max_payload:
        reason_detail = f"(key of {len(key)} bytes not kept) {reason_detail}"
        key = None
    return {"schema_version": 3, "event_id": new_event_id(), "source_topic": source_topic,
            "source_partition": source_partition, "source_offset": source_offset, "key": key,
            "payload": payload if kept else b"", "payload_kept": kept,
            "payload_size": len(payload), "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "reason_code": reason_code, "reason_detail": reason_detail[:DEAD_LETTER_DETAIL_MAX],
            "stage": stage, "failed_at": utcnow()}


def audit_event(*, actor: str, role: str, action: str, target: str = "",
                detail: str = "") -> Record:
    """An AuditEvent record: ``actor`` (in ``role``) did ``action`` to ``target``."""
    return {"schema_version": 1, "event_id": new_event_id(), "actor": actor, "role": role,
            "action": action, "target": target, "detail": detail, "at": utcnow()}
