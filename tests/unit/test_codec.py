"""The Avro codec: round trips, and one clear error for every kind of bad bytes."""

from __future__ import annotations

import os

import pytest

from examgate.core import events
from examgate.core.codec import CodecError, EventCodec


def test_checkin_round_trip(codec: EventCodec, sample_checkin: dict) -> None:
    data = codec.encode("CheckIn", sample_checkin)
    decoded = codec.decode(data, expected="CheckIn")
    assert decoded.name == "CheckIn" and decoded.version == 1
    assert decoded.record["event_id"] == sample_checkin["event_id"]
    assert decoded.record["frame"]["data"] == sample_checkin["frame"]["data"]
    assert decoded.record["captured_at"] == sample_checkin["captured_at"]


def test_every_builder_encodes(codec: EventCodec) -> None:
    blob = b"abc"
    records = {
        "Enrollment": events.enrollment(student_id="s1", action="ADD",
                                        images=[events.object_ref("b", "k", blob)]),
        "Feedback": events.feedback(decision_event_id=events.new_event_id(),
                                    verdict="SAME_PERSON", reviewer_id="proctor-1"),
        "ModelChanged": events.model_changed(model_name="m", version="2", alias="champion"),
        "DeadLetter": events.dead_letter(source_topic="t", source_partition=0, source_offset=5,
                                         key=None, payload=b"\x00", reason_code="UNDECODABLE",
                                         reason_detail="x", stage="decode"),
    }
    for name, record in records.items():
        assert codec.decode(codec.encode(name, record)).record["event_id"] == record["event_id"]


def test_decision_with_all_optional_parts(codec: EventCodec, sample_checkin: dict) -> None:
    now = events.utcnow()
    decision = {
        "event_id": sample_checkin["event_id"], "gate_id": "g", "exam_id": "e",
        "claimed_student_id": "s", "outcome": "ACCEPT", "reason": "MATCH",
        "similarity": 0.71, "model_version": "1",
        "thresholds": {"accept": 0.5, "reject": 0.3, "accept_far": 1e-4, "reject_far": 1e-2},
        "quality": {"face_count": 1, "sharpness": 120.0, "failed": []},
        "latency_ms": {"detect": 10.5}, "captured_at": now, "published_at": now,
        "decided_at": now,
    }
    out = codec.decode(codec.encode("Decision", decision)).record
    assert out["outcome"] == "ACCEPT" and out["quality"]["yaw_deg"] is None
    assert out["similarity"] == pytest.approx(0.71, abs=1e-6)


@pytest.mark.parametrize("data", [b"", b"\x00", os.urandom(64), b"EG", b"EG\x01\x07CheckIn",
                                  b'{"event_id": "json is not avro"}'])
def test_garbage_is_one_clear_error(codec: EventCodec, data: bytes) -> None:
    with pytest.raises(CodecError) as info:
        codec.decode(data)
    assert info.value.reason in {"UNDECODABLE", "WRONG_SCHEMA"}


def test_truncated_record(codec: EventCodec, sample_checkin: dict) -> None:
    data = codec.encode("CheckIn", sample_checkin)
    for cut in (len(data) - 1, len(data) // 2, 20):
        with pytest.raises(CodecError) as info:
            codec.decode(data[:cut])
        assert info.value.reason == "UNDECODABLE"


def test_trailing_bytes_rejected(codec: EventCodec, sample_checkin: dict) -> None:
    with pytest.raises(CodecError):
        codec.decode(codec.encode("CheckIn", sample_checkin) + b"\x00\x01")


def test_wrong_schema_where_another_was_expected(codec: EventCodec) -> None:
    data = codec.encode("Feedback", events.feedback(
        decision_event_id=events.new_event_id(), verdict="UNSURE", reviewer_id="r"))
    with pytest.raises(CodecError) as info:
        codec.decode(data, expected="CheckIn")
    assert info.value.reason == "WRONG_SCHEMA"


def test_unknown_schema_version(codec: EventCodec, sample_checkin: dict) -> None:
    data = bytearray(codec.encode("CheckIn", sample_checkin))
    data[11:13] = (99).to_bytes(2, "big")  # header: EG, ver, len, "CheckIn" (7), version
    with pytest.raises(CodecError) as info:
        codec.decode(bytes(data))
    assert info.value.reason == "WRONG_SCHEMA"


def test_invalid_record_refused_on_encode(codec: EventCodec, sample_checkin: dict) -> None:
    bad = dict(sample_checkin, gate_id=None)
    with pytest.raises(CodecError) as info:
        codec.encode("CheckIn", bad)
    assert info.value.reason == "INVALID_FIELD"
    missing = {k: v for k, v in sample_checkin.items() if k != "camera"}
    with pytest.raises(CodecError):
        codec.encode("CheckIn", missing)
    with pytest.raises(CodecError):
        codec.encode("NoSuchEvent", sample_checkin)
