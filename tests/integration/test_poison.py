"""Poison records against the real broker: a record whose dead letter or output would be over the
broker's size limit must not stop the worker that reads it (nor, by rebalance, the next one)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Message
from confluent_kafka.admin import NewTopic
from streaming_world import check_in, decisions, decisions_on_topic, make_world

from examgate.adapters.eos import Output, TransactionalProcessor
from examgate.adapters.kafka import EventPublisher, EventReader, KafkaClients
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, TopicSettings

pytestmark = [pytest.mark.integration]
CODEC = EventCodec()
PRODUCER_LIMIT = 1_000_000  # librdkafka message.max.bytes (key, value and ~40 bytes of framing)


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """One processor worker on this module's own topics."""
    yield from make_world(stack, metrics_port=9485)


def _oversized_undecodable_check_in(size: int) -> bytes:
    """A valid CheckIn padded to ``size`` bytes by its frame, plus one trailing byte."""
    record = events.checkin(gate_id="gate-poison", exam_id="it", claimed_student_id="s-poison",
                            frame=events.inline_frame(b""), camera_meta=events.camera("c", 1, 1))
    small = len(CODEC.encode("CheckIn", record))
    # The frame's length prefix grows from one byte to three as the frame does.
    record["frame"] = events.inline_frame(b"\xff" * (size - small - 3))
    value = CODEC.encode("CheckIn", record) + b"\x00"
    assert len(value) == size
    return value


def _dead_letters(settings: Settings, sha256: str, timeout: float) -> list[dict]:
    """Every dead letter of the check-in topic whose payload has this checksum."""
    dlq = settings.kafka.topics.checkins + settings.kafka.topics.dlq_suffix
    reader = EventReader(settings.kafka, CODEC, [dlq])
    found = []
    try:
        for item, _ in reader.events(timeout=timeout, idle_timeout=15):
            if not isinstance(item, Exception) and item.record.get("payload_sha256") == sha256:
                found.append(item.record)
    finally:
        reader.close()
    return found


@pytest.mark.lfw
def test_an_oversized_undecodable_check_in_does_not_stop_the_worker(world: dict) -> None:
    s = world["settings"]
    worker = world["workers"].procs[0]
    poison = _oversized_undecodable_check_in(PRODUCER_LIMIT - 100)
    publisher = EventPublisher(s.kafka, CODEC, "it-poison")  # one of its own: its report is clean
    publisher.publish_raw(s.kafka.topics.checkins, "gate-poison", poison, "poison")
    assert publisher.flush().ok, publisher.report.failed  # the broker took it
    normal = check_in(world, "s-after-poison", b"not an image", gate="gate-poison")
    got = decisions(world, [normal], timeout=120)[normal]
    assert (got["outcome"], got["reason"]) == ("REVIEW", "NO_FACE")
    letters = _dead_letters(s, hashlib.sha256(poison).hexdigest(), timeout=60)
    assert len(letters) == 1, f"{len(letters)} dead letters for the poison record"
    (letter,) = letters
    assert (letter["reason_code"], letter["stage"]) == ("UNDECODABLE", "verify.decode_event")
    assert (letter["payload"], letter["payload_kept"], letter["payload_size"]) == \
        (b"", False, len(poison))
    assert letter["source_topic"] == s.kafka.topics.checkins
    assert len(CODEC.encode("DeadLetter", letter)) < 16 * 1024
    assert worker.poll() is None, "the worker died"
    assert world["workers"].procs == [worker]
    assert decisions_on_topic(world, [normal]) == {normal: 1}
    assert world["collector"].duplicates == 0


def test_a_check_in_published_again_is_decided_once(world: dict) -> None:
    """The same CheckIn bytes published twice (a replaying producer, or a recorded event sent
    again): one decision, and a dead letter that names the first record (finding 8)."""
    s = world["settings"]
    record = events.checkin(gate_id="gate-replay", exam_id="it", claimed_student_id="s-replay",
                            frame=events.inline_frame(b"not an image"),
                            camera_meta=events.camera("c", 1, 1))
    value = CODEC.encode("CheckIn", record)
    for _ in range(2):
        world["publisher"].publish_raw(s.kafka.topics.checkins, "gate-replay", value,
                                       record["event_id"])
    event_id = record["event_id"]
    assert decisions(world, [event_id], timeout=120)[event_id]["reason"] == "NO_FACE"
    letters = _dead_letters(s, hashlib.sha256(value).hexdigest(), timeout=60)
    assert [(d["reason_code"], d["stage"]) for d in letters] == \
        [("DUPLICATE_EVENT", "verify.event_id")]
    assert "first published as" in letters[0]["reason_detail"]
    assert decisions_on_topic(world, [event_id]) == {event_id: 1}


@pytest.fixture
def small_output_topic(stack: Settings) -> Iterator[dict[str, str]]:
    """An input topic, its dead-letter topic and an output topic whose broker limit is 10 kB
    (the producer's own check passes, the broker refuses at delivery); deleted afterwards."""
    run = uuid.uuid4().hex[:10]
    names = {"input": f"poison.{run}", "dlq": f"poison.{run}.dlq", "output": f"poison.{run}.out"}
    admin = KafkaClients(stack.kafka).admin()
    topics = [NewTopic(names["input"], 1, 1), NewTopic(names["dlq"], 1, 1),
              NewTopic(names["output"], 1, 1, config={"max.message.bytes": "10000"})]
    for future in admin.create_topics(topics, operation_timeout=30).values():
        future.result(30)
    yield names
    for future in admin.delete_topics(list(names.values()), operation_timeout=30).values():
        future.result(30)


def _committed_values(stack: Settings, topic: str) -> list[bytes]:
    consumer = KafkaClients(stack.kafka).consumer(group_id=f"it-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    values: list[bytes] = []
    end, idle = time.monotonic() + 60, time.monotonic()
    try:
        while time.monotonic() < end and time.monotonic() - idle < 8:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value() or b"")
                idle = time.monotonic()
    finally:
        consumer.close()
    return values


def test_an_output_the_broker_refuses_becomes_a_dead_letter(
        stack: Settings, small_output_topic: dict[str, str]) -> None:
    names = small_output_topic
    kafka = stack.kafka.model_copy(update={"topics": TopicSettings(checkins=names["input"])})

    def handler(msg: Message) -> list[Output]:
        size = 50_000 if msg.value() == b"big" else 10
        return [Output(names["output"], msg.key(), (msg.value() or b"").upper().ljust(size))]

    publisher = EventPublisher(kafka, CODEC, "it-poison")
    for value in (b"big", b"small"):
        publisher.publish_raw(names["input"], "k", value)
    assert publisher.flush().ok
    proc = TransactionalProcessor(kafka, {names["input"]: handler},
                                  group_id=f"it-{uuid.uuid4().hex[:8]}",
                                  transactional_id=f"it-{uuid.uuid4().hex[:8]}")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            proc.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        outputs = []
        end = time.monotonic() + 60
        while not outputs and time.monotonic() < end:
            outputs = _committed_values(stack, names["output"])
    finally:
        proc.stop()
        runner.join(30)
    assert not runner.is_alive() and not errors, errors
    assert [v.strip() for v in outputs] == [b"SMALL"]
    (raw,) = _committed_values(stack, names["dlq"])
    letter = CODEC.decode(raw, expected="DeadLetter").record
    assert (letter["reason_code"], letter["stage"]) == ("TOO_LARGE", "eos.produce")
    assert (letter["source_topic"], letter["source_offset"], letter["payload"]) == \
        (names["input"], 0, b"big")
