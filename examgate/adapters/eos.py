"""Exactly-once stream processing: consume, handle, produce, and commit the input offsets in the
same Kafka transaction (KIP-98/KIP-447, through confluent-kafka's transactional producer).

A batch of input records either yields all of its outputs and moves the group's
offsets past it, atomically, or yields nothing and is read again. Readers of the
output topics use ``isolation.level=read_committed``, so a worker killed
mid-batch leaves no visible half-batch behind: its open transaction is fenced
by its successor (same transactional id) or aborted by the broker after
``transaction.timeout.ms`` (10 s). Both clients come from the client factory,
:class:`~examgate.adapters.kafka.KafkaClients`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from examgate.adapters.kafka import KafkaClients
from examgate.core.settings import KafkaSettings

log = logging.getLogger("examgate.eos")


@dataclass(frozen=True)
class Output:
    """One record to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes


Handler = Callable[[Message], list[Output]]

# A dead worker's partitions move on to the others quickly.
FAST_FAILOVER = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000}


class TransactionalProcessor:
    """Runs handlers over input topics with exactly-once output, until stopped."""

    def __init__(self, kafka: KafkaSettings, handlers: Mapping[str, Handler], *,
                 group_id: str, transactional_id: str, max_batch: int = 16,
                 poll_timeout_s: float = 0.05,
                 on_batch: Callable[[Consumer], None] | None = None) -> None:
        clients = KafkaClients(kafka)
        self.handlers = dict(handlers)
        self.max_batch = max_batch
        self.poll_timeout_s = poll_timeout_s
        self.on_batch = on_batch
        self.consumer = clients.consumer(group_id=group_id, offsets="earliest",
                                         isolation="read_committed", extra=FAST_FAILOVER)
        self.producer = clients.transactional_producer(transactional_id)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Finish the current batch, then return from :meth:`run`."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self) -> None:
        """Process until stopped."""
        self.producer.init_transactions(30)
        self.consumer.subscribe(list(self.handlers))
        log.info("processing %s exactly once", ", ".join(self.handlers))
        try:
            while not self._stop.is_set():
                msgs = self.consumer.consume(self.max_batch, self.poll_timeout_s)
                batch = [m for m in msgs if self._usable(m)]
                if batch:
                    self._process(batch)
                if self.on_batch is not None:
                    self.on_batch(self.consumer)
        finally:
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
        self.producer.begin_transaction()
        try:
            for msg in batch:
                for out in self.handlers[_coordinates(msg)[0]](msg):
                    self._produce(out)
            positions = self.consumer.position(self.consumer.assignment())
            self.producer.send_offsets_to_transaction(
                positions, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(30)
        except KafkaException as exc:
            err: Any = exc.args[0]
            if getattr(err, "txn_requires_abort", lambda: False)():
                log.warning("transaction aborted, re-reading the batch: %s", err)
                self.producer.abort_transaction(30)
                self._rewind(batch)
                return
            raise  # fatal (e.g. fenced by a newer instance): let the worker exit

    def _produce(self, out: Output) -> None:
        while True:
            try:
                self.producer.produce(out.topic, key=out.key, value=out.value)
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


def _coordinates(msg: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (always set when it has no error)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"a consumed record without topic, partition or offset: {msg!r}")
    return topic, partition, offset
