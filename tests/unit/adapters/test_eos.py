"""The exactly-once loop with fake clients: a record whose output the producer refuses becomes a
small dead letter in the same transaction, and the worker carries on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from examgate.adapters.eos import Output, TransactionalProcessor
from examgate.adapters.kafka import clients
from examgate.core.codec import EventCodec
from examgate.core.settings import KafkaSettings

CODEC = EventCodec()
SOURCE, DLQ, OUT = "gate.checkins", "gate.checkins.dlq", "gate.decisions"


class FakeConsumer:
    """The few consumer calls the loop makes; seeks are recorded."""

    def __init__(self, _conf: dict[str, Any]) -> None:
        self.seeks: list[tuple[str, int, int]] = []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(SOURCE, 0)]

    def position(self, parts: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(p.topic, p.partition, 42) for p in parts]

    def consumer_group_metadata(self) -> object:
        return object()

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


class FakeProducer:
    """A transactional producer with librdkafka's client-side size check (``limit``). What is
    queued goes as one request on flush or commit; a broker that refuses one record of a
    request (``broker_refuses``) refuses all of it, and the transaction becomes abortable."""

    def __init__(self, _conf: dict[str, Any]) -> None:
        self.limit = 1_000_000
        self.broker_refuses: Callable[[bytes], bool] = lambda _value: False
        self.fail_with: KafkaError | None = None
        self.queue: list[tuple[Output, Any]] = []
        self.delivered: list[Output] = []
        self.requests: list[list[Output]] = []
        self.committed: list[list[Output]] = []
        self.aborted = 0
        self.offsets_sent = 0
        self._abortable = False

    def begin_transaction(self) -> None:
        self.queue, self.delivered, self._abortable = [], [], False

    def produce(self, topic: str, key: bytes | None = None, value: bytes = b"",
                on_delivery: Any = None) -> None:
        if self.fail_with is not None:
            raise KafkaException(self.fail_with)
        if self._abortable:
            raise KafkaException(KafkaError(KafkaError._STATE))
        if len(value) + len(key or b"") > self.limit:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.queue.append((Output(topic, key, value), on_delivery))

    def _send(self) -> None:
        request, self.queue = self.queue, []
        if not request:
            return
        self.requests.append([out for out, _ in request])
        refused = any(self.broker_refuses(out.value) for out, _ in request)
        for out, callback in request:
            if callback is not None:
                callback(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if refused else None, None)
            if not refused:
                self.delivered.append(out)
        self._abortable |= refused

    def poll(self, _timeout: float = 0) -> int:
        return 0

    def flush(self, _timeout: float = 0) -> int:
        self._send()
        return 0

    def send_offsets_to_transaction(self, *_args: Any) -> None:
        self.offsets_sent += 1

    def commit_transaction(self, _timeout: float = 0) -> None:
        self._send()
        if self._abortable:
            raise KafkaException(KafkaError(KafkaError._INCONSISTENT, "1 message failed delivery",
                                            txn_requires_abort=True))
        self.committed.append(self.delivered)

    def abort_transaction(self, _timeout: float = 0) -> None:
        self.aborted += 1
        self.queue, self.delivered, self._abortable = [], [], False


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch):
    """A processor over fake clients, with the handler given."""
    monkeypatch.setattr(clients, "Consumer", FakeConsumer)
    monkeypatch.setattr(clients, "Producer", FakeProducer)

    def build(handler: Callable[[Message], list[Output]]) -> TransactionalProcessor:
        return TransactionalProcessor(KafkaSettings(), {SOURCE: handler}, group_id="g",
                                      transactional_id="t")
    return build


def _message(value: bytes = b"an input record", offset: int = 41) -> Message:
    return Message(topic=SOURCE, partition=0, offset=offset, key=b"gate-1", value=value)


def _dead_letter(out: Output) -> dict:
    assert out.topic == DLQ
    return CODEC.decode(out.value, expected="DeadLetter").record


def test_outputs_that_fit_commit_with_the_offsets(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"decision")])
    proc._process([_message()])
    assert proc.producer.committed == [[Output(OUT, b"gate-1", b"decision")]]
    assert proc.producer.offsets_sent == 1


def test_an_output_refused_as_too_large_becomes_a_dead_letter_and_the_batch_commits(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"x" * 2_000_000)]
                if m.offset() == 41 else [Output(OUT, m.key(), b"ok")])
    proc._process([_message(), _message(offset=42)])
    (outputs,) = proc.producer.committed
    assert [o.topic for o in outputs] == [DLQ, OUT]
    record = _dead_letter(outputs[0])
    assert (record["reason_code"], record["stage"]) == ("TOO_LARGE", "eos.produce")
    assert (record["source_topic"], record["source_offset"]) == (SOURCE, 41)
    assert record["payload"] == b"an input record"
    assert OUT in record["reason_detail"] and "2000000" in record["reason_detail"]
    assert proc.producer.offsets_sent == 1 and proc.producer.aborted == 0


def test_a_dead_letter_refused_in_turn_is_sent_without_the_payload(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"x" * 20_000)])
    proc.producer.limit = 2_000  # the input (5 kB) fits the dead-letter cap, not this producer
    proc._process([_message(b"i" * 5_000)])
    ((out,),) = proc.producer.committed
    record = _dead_letter(out)
    assert (record["payload"], record["payload_kept"], record["payload_size"]) == \
        (b"", False, 5_000)


def test_when_not_even_a_bare_dead_letter_fits_the_worker_stops(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"x" * 100)])
    proc.producer.limit = 10
    with pytest.raises(KafkaException):
        proc._process([_message()])
    assert proc.producer.committed == []


def test_a_failure_of_the_cluster_is_not_blamed_on_the_record(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"decision")])
    proc.producer.fail_with = KafkaError(KafkaError._FENCED, fatal=True)
    with pytest.raises(KafkaException):
        proc._process([_message()])
    assert proc.producer.committed == []


def test_a_delivery_the_broker_refuses_aborts_and_the_reread_sends_a_dead_letter(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"huge for this topic")])
    proc.producer.broker_refuses = lambda value: value == b"huge for this topic"
    proc._process([_message()])
    assert proc.producer.committed == [] and proc.producer.aborted == 1
    assert proc.consumer.seeks == [(SOURCE, 0, 41)]  # the batch is read again
    proc._process([_message()])
    ((out,),) = proc.producer.committed
    record = _dead_letter(out)
    assert (record["reason_code"], record["stage"]) == ("TOO_LARGE", "eos.produce")
    assert record["source_offset"] == 41 and "gate.decisions refused" in record["reason_detail"]
    proc._process([_message()])  # once committed, a refusal is not remembered
    assert proc.producer.aborted == 2


def test_outputs_refused_together_are_sent_alone_until_the_culprit_is_known(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"huge for this topic")]
                if m.offset() == 41 else [Output(OUT, m.key(), b"ok")])
    proc.producer.broker_refuses = lambda value: value == b"huge for this topic"
    batch = [_message(), _message(offset=42)]
    for _ in range(3):
        proc._process(batch)
    assert proc.producer.aborted == 2  # refused together, then the culprit alone
    (outputs,) = proc.producer.committed
    assert [o.topic for o in outputs] == [DLQ, OUT]  # the innocent output is not blamed
    assert _dead_letter(outputs[0])["source_offset"] == 41
    assert proc.producer.requests[-2:] == [[outputs[0]], [outputs[1]]]  # each went alone
    proc._process([_message(offset=43)])  # later batches go in one request again
    assert len(proc.producer.requests[-1]) == 1 and len(proc.producer.committed) == 2


def test_a_dead_letter_the_broker_refuses_goes_again_without_the_payload(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"x" * 2_000)])
    proc.producer.broker_refuses = lambda value: len(value) > 1_000  # a limit under the cap
    for _ in range(3):
        proc._process([_message(b"i" * 5_000)])
    ((out,),) = proc.producer.committed
    record = _dead_letter(out)
    assert (record["payload_kept"], record["payload_size"]) == (False, 5_000)
    assert proc.producer.aborted == 2


def test_when_the_broker_refuses_even_a_bare_dead_letter_the_worker_stops(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"x")])
    proc.producer.broker_refuses = lambda _value: True
    with pytest.raises(KafkaException):
        for _ in range(4):
            proc._process([_message()])
    assert proc.producer.committed == []


def test_a_produce_in_a_failed_transaction_aborts_instead_of_killing_the_worker(make) -> None:
    proc = make(lambda m: [Output(OUT, m.key(), b"decision")])
    proc.producer._abortable = True  # an earlier delivery of this transaction failed
    proc.producer.begin_transaction = lambda: None  # type: ignore[method-assign]
    proc._process([_message()])
    assert proc.producer.aborted == 1 and proc.consumer.seeks == [(SOURCE, 0, 41)]


def test_a_handler_that_raises_dead_letters_its_record(make) -> None:
    def broken(_msg: Message) -> list[Output]:
        raise RuntimeError("a bug in a handler")

    proc = make(broken)
    proc._process([_message()])
    ((out,),) = proc.producer.committed
    record = _dead_letter(out)
    assert (record["reason_code"], record["stage"]) == ("PROCESSING_FAILED", "eos.handle")
    assert "a bug in a handler" in record["reason_detail"]


def test_records_of_a_parallel_topic_are_handled_at_once_and_emitted_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    monkeypatch.setattr(clients, "Consumer", FakeConsumer)
    monkeypatch.setattr(clients, "Producer", FakeProducer)
    both_started = threading.Barrier(2, timeout=5)  # only passes if two run at the same time

    def slow(m: Message) -> list[Output]:
        if m.offset() < 2:
            both_started.wait()
        time.sleep(0.01 * (4 - m.offset()))  # the first finishes last
        if m.offset() == 2:
            raise RuntimeError("a bug met by one record")
        return [Output(OUT, m.key(), str(m.offset()).encode())]

    proc = TransactionalProcessor(KafkaSettings(), {SOURCE: slow}, group_id="g",
                                  transactional_id="t", parallel={SOURCE: 2})
    proc._process([_message(offset=k) for k in range(4)])
    (outputs,) = proc.producer.committed
    assert [o.value for o in outputs[:2]] == [b"0", b"1"] and outputs[3].value == b"3"
    assert _dead_letter(outputs[2])["reason_code"] == "PROCESSING_FAILED"
    assert proc.producer.offsets_sent == 1
