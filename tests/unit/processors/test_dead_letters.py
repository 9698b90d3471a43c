"""Dead letters: one schema-backed builder, routed to the dead-letter topic of the source topic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import Message

from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, TopicSettings
from stream_processors.deadletter import dead_letter
from stream_processors.enroll import agents as enroll
from stream_processors.verify import agents as verify

CODEC = EventCodec()


def _message(topic: str, value: bytes = b"junk", key: bytes | None = b"k") -> Message:
    return Message(topic=topic, partition=2, offset=41, key=key, value=value)


def test_a_failed_record_goes_whole_to_its_topics_dead_letters() -> None:
    out = dead_letter(TopicSettings(), CODEC, _message("enrollment.requests", key=b"s-1"),
                      reason="FRAME_UNAVAILABLE", detail="no such object", stage="enroll")
    assert (out.topic, out.key) == ("enrollment.requests.dlq", b"s-1")
    record = CODEC.decode(out.value, expected="DeadLetter").record
    assert record["payload"] == b"junk" and record["key"] == b"s-1"
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == \
        ("enrollment.requests", 2, 41)
    assert (record["reason_code"], record["reason_detail"], record["stage"]) == \
        ("FRAME_UNAVAILABLE", "no such object", "enroll")


def test_an_unknown_reason_is_kept_as_processing_failed() -> None:
    record = events.dead_letter(source_topic="t", source_partition=0, source_offset=1, key=None,
                                payload=b"", reason_code="DISK_ON_FIRE", reason_detail="x" * 5000,
                                stage="s")
    assert record["reason_code"] == "PROCESSING_FAILED"
    assert record["reason_detail"].startswith("DISK_ON_FIRE: x")
    assert len(record["reason_detail"]) == events.DEAD_LETTER_DETAIL_MAX
    CODEC.encode("DeadLetter", record)  # still fits the schema


def test_reasons_come_from_the_schema() -> None:
    assert events.dead_letter_reasons() >= {"UNDECODABLE", "WRONG_SCHEMA", "INVALID_FIELD",
                                            "PROCESSING_FAILED"}


def test_a_topic_without_dead_letters_is_refused() -> None:
    with pytest.raises(KeyError):
        dead_letter(TopicSettings(), CODEC, _message("gate.decisions"), reason="UNDECODABLE",
                    detail="", stage="s")


@pytest.mark.parametrize(("slice_", "topic", "stage"), [
    (verify, "gate.checkins", "verify.decode_event"), (enroll, "enrollment.requests", "enroll")])
def test_both_slices_dead_letter_undecodable_input(slice_, topic: str, stage: str) -> None:
    rt = SimpleNamespace(settings=Settings(), codec=CODEC)
    (out,) = slice_.handle(rt, _message(topic, value=b"\x00 not an event"))
    assert out.topic == topic + ".dlq"
    record = CODEC.decode(out.value, expected="DeadLetter").record
    assert (record["reason_code"], record["stage"]) == ("UNDECODABLE", stage)


# --- bounds: a dead letter always fits the broker, however large the record that failed ---

BROKER_LIMIT = 1_000_000  # librdkafka's default message.max.bytes, below the broker's 1 MiB


def _oversized_check_in() -> bytes:
    """A CheckIn just under the producer's limit, with one trailing byte that fails to decode."""
    record = events.checkin(gate_id="g1", exam_id="e1", claimed_student_id="s-1",
                            frame=events.inline_frame(b"\xff" * 999_000),
                            camera_meta=events.camera("c", 1, 1))
    return CODEC.encode("CheckIn", record) + b"\x00"


def test_the_payload_cap_is_a_setting_well_under_the_broker_limit() -> None:
    assert TopicSettings().dlq_payload_max_bytes == 256 * 1024
    with pytest.raises(ValueError):
        TopicSettings(dlq_payload_max_bytes=900_000)  # key, payload and Kafka key: over 1 MB


def test_a_payload_under_the_cap_is_kept_whole_with_its_checksum() -> None:
    import hashlib

    record = events.dead_letter(source_topic="t", source_partition=0, source_offset=7,
                                key=b"k", payload=b"abc", reason_code="UNDECODABLE",
                                reason_detail="", stage="s", max_payload=3)
    assert record["payload"] == b"abc" and record["payload_kept"] is True
    assert record["payload_size"] == 3
    assert record["payload_sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert CODEC.decode(CODEC.encode("DeadLetter", record)).record["payload"] == b"abc"


def test_a_payload_over_the_cap_is_kept_by_checksum_size_and_position_only() -> None:
    import hashlib

    payload = b"p" * 5000
    record = events.dead_letter(source_topic="t", source_partition=1, source_offset=9,
                                key=b"k" * 5000, payload=payload, reason_code="UNDECODABLE",
                                reason_detail="trailing bytes", stage="s", max_payload=4096)
    assert record["payload"] == b"" and record["payload_kept"] is False
    assert record["payload_size"] == 5000
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == \
        ("t", 1, 9)
    assert record["key"] is None and "key of 5000 bytes" in record["reason_detail"]
    assert record["reason_code"] == "UNDECODABLE"
    assert len(CODEC.encode("DeadLetter", record)) < 4096


def test_an_oversized_record_gets_a_small_dead_letter() -> None:
    value = _oversized_check_in()
    assert len(value) < BROKER_LIMIT
    msg = _message("gate.checkins", value=value, key=b"g" * 300_000)
    out = dead_letter(TopicSettings(), CODEC, msg, reason="UNDECODABLE", detail="x",
                      stage="verify.decode_event")
    cap = TopicSettings().dlq_payload_max_bytes
    assert len(out.value) + len(out.key or b"") < cap
    record = CODEC.decode(out.value, expected="DeadLetter").record
    assert (record["payload_kept"], record["payload_size"]) == (False, len(value))


def test_the_verify_slice_dead_letters_an_oversized_check_in_in_bounds() -> None:
    value = _oversized_check_in()
    rt = SimpleNamespace(settings=Settings(), codec=CODEC)
    (out,) = verify.handle(rt, _message("gate.checkins", value=value))
    assert out.topic == "gate.checkins.dlq"
    assert len(out.value) < 16 * 1024  # the event is not in it: only its checksum and place
    record = CODEC.decode(out.value, expected="DeadLetter").record
    assert (record["reason_code"], record["payload_kept"]) == ("UNDECODABLE", False)
    assert (record["source_partition"], record["source_offset"]) == (2, 41)
