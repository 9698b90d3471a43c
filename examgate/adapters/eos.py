"""Exactly-once stream processing: consume, handle, produce, and commit the input offsets in the
same Kafka transaction (KIP-98/KIP-447, through confluent-kafka's transactional producer).

A batch of input records either yields all of its outputs and moves the group's
offsets past it, atomically, or yields nothing and is read again. Readers of the
output topics use ``isolation.level=read_committed``, so a worker killed
mid-batch leaves no visible half-batch behind: its open transaction is fenced
by its successor (same transactional id) or aborted by the broker after
``transaction.timeout.ms`` (10 s). Both clients come from the client factory,
:class:`~examgate.adapters.kafka.KafkaClients`.

No single record can stop the loop. A handler that raises, or an output the
producer refuses for the record's own sake (too large or malformed:
:data:`RECORD_FAULTS`), is replaced by a dead letter of the input record in the
same transaction, and the batch commits. The client refuses an oversized record
at once and the transaction goes on. The broker refuses at delivery, which
leaves the transaction abortable (librdkafka: a message that fails permanently
puts the transaction in the abortable error state): the batch is aborted, read
again, and the refused output replaced. A broker refuses a whole produce
request, so when several outputs were refused together the re-read sends each
one alone until the guilty one is known. A dead letter refused in turn is sent
again without the record's bytes; if even that is refused the cluster is
misconfigured and the worker stops. Errors of the cluster or of the transaction
(fencing, timeouts) are never blamed on a record.

Nor can a hung client call stop it silently: a watchdog ends the process when the
loop makes no progress for ``kafka.processing_stall_s`` (a transactional call was
seen to block for minutes after a broker restart, past its own timeout); the
worker is started again under the same transactional id and fences what it left.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from examgate.adapters.kafka import KafkaClients, Topics
from examgate.adapters.watchdog import Watchdog
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import KafkaSettings, TopicSettings

log = logging.getLogger("examgate.eos")


@dataclass(frozen=True)
class Output:
    """One record to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes


Handler = Callable[[Message], list[Output]]
Coordinates = tuple[str, int, int]  # topic, partition, offset of an input record
OutputId = tuple[str, int, int, int]  # an input record's coordinates and the output's index

# A dead worker's partitions move on to the others quickly.
FAST_FAILOVER = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000}

# Refusals of one record for its own size or content: retrying cannot help, and nothing is
# wrong with the cluster or the rest of the batch.
RECORD_FAULTS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                           KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG})
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})
# How an output goes out after each refusal: itself, a dead letter of its input record, a
# dead letter without the record's bytes (and key).
AS_IS, DEAD_LETTER, BARE_DEAD_LETTER = 0, 1, 2


def refused_for_itself(err: KafkaError) -> bool:
    """Whether ``err`` refuses one record for its own size or content."""
    return err.code() in RECORD_FAULTS and not err.fatal()


class DeadLetterFactory(Protocol):
    """Builds the dead letter of an input record (``max_payload`` None: the configured cap)."""

    def __call__(self, msg: Message, *, reason: str, detail: str, stage: str,
                 max_payload: int | None = None) -> Output:
        """The DeadLetter output of ``msg``."""
        ...


def dead_letter_output(topics: TopicSettings, codec: EventCodec, msg: Message, *, reason: str,
                       detail: str, stage: str, max_payload: int | None = None
                       ) -> tuple[Output, dict[str, Any]]:
    """The DeadLetter of input ``msg`` for its topic's dead-letter topic, and the record in it.

    It keeps ``msg``'s bytes up to ``topics.dlq_payload_max_bytes`` (or ``max_payload``).
    KeyError when the topic has no dead-letter topic.
    """
    source = msg.topic() or ""
    dlq = Topics.from_settings(topics).dead_letters_for(source)
    record = events.dead_letter(
        source_topic=source, source_partition=msg.partition() or 0,
        source_offset=msg.offset() or 0, key=msg.key(), payload=msg.value() or b"",
        reason_code=reason, reason_detail=detail, stage=stage,
        max_payload=topics.dlq_payload_max_bytes if max_payload is None else max_payload)
    return Output(dlq.name, record["key"], codec.encode(dlq.event, record)), record


class LoggedDeadLetters:
    """The loop's own dead letters when its owner gives none: built, and logged."""

    def __init__(self, topics: TopicSettings, codec: EventCodec | None = None) -> None:
        self.topics = topics
        self.codec = codec or EventCodec()

    def __call__(self, msg: Message, *, reason: str, detail: str, stage: str,
                 max_payload: int | None = None) -> Output:
        """The DeadLetter output of ``msg``."""
        out, record = dead_letter_output(self.topics, self.codec, msg, reason=reason,
                                         detail=detail, stage=stage, max_payload=max_payload)
        log.error("dead letter: %s[%d]@%d failed at %s: %s (%s)", record["source_topic"],
                  record["source_partition"], record["source_offset"], stage,
                  record["reason_code"], record["reason_detail"])
        return out


@dataclass(frozen=True)
class Refusal:
    """How an output the producer refused goes out next time, and why."""

    level: int  # DEAD_LETTER or BARE_DEAD_LETTER
    reason: str
    detail: str

    @staticmethod
    def after(current: Refusal | None, topic: str, size: int, err: KafkaError) -> Refusal:
        """The next step once a ``size``-byte record for ``topic`` was refused with ``err``."""
        what = f"{topic} refused a {size}-byte record: {err.str()}"
        if current is None:
            reason = "TOO_LARGE" if err.code() in _TOO_LARGE else "PROCESSING_FAILED"
            return Refusal(DEAD_LETTER, reason, f"output to {what}")
        return Refusal(current.level + 1, current.reason,
                       f"{current.detail}; then its dead letter ({what})")


class _RefusedAlone(Exception):
    """An output sent alone was refused at delivery: abort, then read the batch again."""


class TransactionalProcessor:
    """Runs handlers over input topics with exactly-once output, until stopped."""

    def __init__(self, kafka: KafkaSettings, handlers: Mapping[str, Handler], *,
                 group_id: str, transactional_id: str, max_batch: int = 16,
                 poll_timeout_s: float = 0.05,
                 on_batch: Callable[[Consumer], None] | None = None,
                 dead_letters: DeadLetterFactory | None = None,
                 parallel: Mapping[str, int] | None = None) -> None:
        clients = KafkaClients(kafka)
        self.handlers = dict(handlers)
        # Topics whose records in one batch may be handled at once (on this many threads):
        # their handlers must be thread-safe. Outputs are still produced in batch order.
        self.parallel = {t for t, n in (parallel or {}).items() if n > 1}
        threads = max((n for n in (parallel or {}).values()), default=1)
        self._pool = ThreadPoolExecutor(threads, "handler") if threads > 1 else None
        self.max_batch = max_batch
        self.poll_timeout_s = poll_timeout_s
        self.on_batch = on_batch
        self.stall_s = kafka.processing_stall_s
        self.dead_letters = dead_letters or LoggedDeadLetters(kafka.topics)
        self.consumer = clients.consumer(group_id=group_id, offsets="earliest",
                                         isolation="read_committed", extra=FAST_FAILOVER)
        self.producer = clients.transactional_producer(transactional_id)
        self._stop = threading.Event()
        # Until the batch that holds them commits: outputs known to be refused, and input
        # records one of whose outputs was refused together with others at delivery.
        self._refused: dict[OutputId, Refusal] = {}
        self._suspects: set[Coordinates] = set()
        self._failed: list[tuple[OutputId, str, int, KafkaError]] = []  # this transaction's

    def stop(self) -> None:
        """Finish the current batch, then return from :meth:`run`."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self) -> None:
        """Process until stopped (or, stuck longer than ``stall_s``, end the process)."""
        self.producer.init_transactions(30)
        self.consumer.subscribe(list(self.handlers))
        log.info("processing %s exactly once", ", ".join(self.handlers))
        watchdog = Watchdog("exactly-once loop", self.stall_s).start()
        try:
            while not self._stop.is_set():
                watchdog.beat("consume")
                # consume(n, t) waits for n records or t: a lone check-in would wait the
                # full t. So wait for the first, then take what is already fetched.
                msgs = self.consumer.consume(1, self.poll_timeout_s)
                if msgs and self.max_batch > 1:
                    msgs += self.consumer.consume(self.max_batch - 1, 0)
                batch = [m for m in msgs if self._usable(m)]
                if batch:
                    watchdog.beat(f"a transaction of {len(batch)} record(s)")
                    self._process(batch)
                if self.on_batch is not None:
                    self.on_batch(self.consumer)
        finally:
            watchdog.stop()
            self.consumer.close()
            self.producer.flush(10)

    @staticmethod
    def _usable(msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer: %s", err)
        return False

    def _process(self, batch: list[Message]) -> None:
        self._failed = []
        # After a refusal shared by several outputs, each output goes alone to find the culprit.
        alone = any(_coordinates(m) in self._suspects for m in batch)
        self.producer.begin_transaction()
        try:
            for msg, outputs in zip(batch, self._handle_all(batch), strict=True):
                for index, out in enumerate(outputs):
                    self._emit(msg, index, out, alone)
            positions = self.consumer.position(self.consumer.assignment())
            self.producer.send_offsets_to_transaction(
                positions, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(30)
        except (KafkaException, _RefusedAlone) as exc:
            if isinstance(exc, KafkaException) and not _requires_abort(exc.args[0]):
                raise  # fatal (e.g. fenced by a newer instance): let the worker exit
            log.warning("transaction aborted, re-reading the batch: %s", exc)
            self.producer.abort_transaction(30)
            self.producer.poll(0)  # serve what is left of the aborted batch's delivery reports
            self._learn(alone)
            self._rewind(batch)
            return
        done = {_coordinates(m) for m in batch}
        self._suspects -= done
        self._refused = {k: v for k, v in self._refused.items() if k[:3] not in done}

    def _handle_all(self, batch: list[Message]) -> list[list[Output]]:
        """Each record's outputs, in batch order; records of parallel topics at once."""
        pool = self._pool
        started = [pool.submit(self._handle, m) if pool and m.topic() in self.parallel else None
                   for m in batch]
        return [self._handle(m) if f is None else f.result()
                for m, f in zip(batch, started, strict=True)]

    def _handle(self, msg: Message) -> list[Output]:
        try:
            return self.handlers[_coordinates(msg)[0]](msg)
        except Exception as exc:  # noqa: BLE001 - a bug met by one record must not stop the stream
            log.exception("handler failed on %s[%s]@%s", msg.topic(), msg.partition(), msg.offset())
            return [self.dead_letters(msg, reason="PROCESSING_FAILED", stage="eos.handle",
                                      detail=f"{type(exc).__name__}: {exc}")]

    def _emit(self, msg: Message, index: int, out: Output, alone: bool) -> None:
        """Produce ``out`` (or what replaces it after refusals) in the open transaction."""
        oid: OutputId = (*_coordinates(msg), index)
        refusal = self._refused.get(oid)
        while True:
            record = out if refusal is None else self.dead_letters(
                msg, reason=refusal.reason, detail=refusal.detail, stage="eos.produce",
                max_payload=0 if refusal.level == BARE_DEAD_LETTER else None)
            if alone:
                self.producer.flush(30)
            try:
                self._produce(record, self._tracker(oid, record))
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if not refused_for_itself(err) or (refusal is not None
                                                   and refusal.level == BARE_DEAD_LETTER):
                    raise
                refusal = Refusal.after(refusal, record.topic, len(record.value), err)
                log.error("%s[%d]@%d: %s", *oid[:3], refusal.detail)
                continue
            if alone:
                self.producer.flush(30)
                if self._failed:
                    raise _RefusedAlone(f"{record.topic} refused an output of "
                                        f"{oid[0]}[{oid[1]}]@{oid[2]}")
            return

    def _tracker(self, oid: OutputId, record: Output) -> Callable[[KafkaError | None, Any], None]:
        """A delivery callback that notes a refusal of ``record`` for its own sake."""
        size = len(record.value)

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None and refused_for_itself(err):
                self._failed.append((oid, record.topic, size, err))
        return delivered

    def _learn(self, alone: bool) -> None:
        """After an abort: blame the outputs refused at delivery, or suspect their records."""
        failed, self._failed = self._failed, []
        if not alone and len(failed) > 1:
            # The broker refuses a whole request: which output was too large is not known yet.
            self._suspects.update(oid[:3] for oid, *_ in failed)
            return
        for oid, topic, size, err in failed:  # each was the only record in its request
            current = self._refused.get(oid)
            if current is not None and current.level == BARE_DEAD_LETTER:
                raise KafkaException(err)  # not even a bare dead letter fits: misconfigured
            self._refused[oid] = Refusal.after(current, topic, size, err)
            log.error("%s[%d]@%d: %s", *oid[:3], self._refused[oid].detail)

    def _produce(self, out: Output, on_delivery: Callable[[KafkaError | None, Any], None]
                 ) -> None:
        while True:
            try:
                self.producer.produce(out.topic, key=out.key, value=out.value,
                                      on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _rewind(self, batch: list[Message]) -> None:
        """Seek each partition of the batch back to the batch's first record."""
        first: dict[tuple[str, int], int] = {}
        for m in batch:
            topic, partition, offset = _coordinates(m)
            first[(topic, partition)] = min(first.get((topic, partition), offset), offset)
        for (topic, partition), offset in first.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))


def _requires_abort(err: KafkaError) -> bool:
    """An error after which the open transaction can only be aborted (and the batch re-read).

    ``produce`` reports a transaction already in the abortable state (after a failed
    delivery) as a plain ``_STATE`` error, without ``txn_requires_abort``.
    """
    return bool(err.txn_requires_abort()) or err.code() == KafkaError._STATE


def _coordinates(msg: Message) -> Coordinates:
    """Topic, partition and offset of a consumed record (always set when it has no error)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"a consumed record without topic, partition or offset: {msg!r}")
    return topic, partition, offset
