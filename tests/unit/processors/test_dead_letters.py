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
