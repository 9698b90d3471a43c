"""Exactly-once stream processing: consume, handle, produce, and commit the input offsets in the
same Kafka transaction (KIP-98/KIP-447, through confluent-kafka's transactional producer).

A batch of input records either yields all of its outputs and moves the group's
offsets past it, atomically, or yields nothing and is read again. Readers of the
output topics use ``isolation.level=read_committed``, so a worker killed
mid-batch leaves no visible half-batch behind: its open transaction is fenced
by its successor (same transactional id) or aborted by the broker after
``transaction.timeout.ms``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from examgate.settings import KafkaSettings

log = logging.getLogger("examgate.eos")


@dataclass(frozen=True)
class Output:
    """One record to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes


Handler = Callable[[Message], list[Output]]


class TransactionalProcessor:
    """Runs handlers over input topics with exactly-once output, until stopped."""

    def __init__(self, kafka: KafkaSettings, handlers: Mapping[str, Handler], *,
                 group_id: str, transactional_id: str, max_batch: int = 16,
                 poll_timeout_s: float = 0.05,
                 on_batch: Callable[[Consumer], None] | None = None) -> None:
        base = kafka.client_config()
        self.handlers = dict(handlers)
        self.max_batch = max_batch
        self.poll_timeout_s = poll_timeout_s
        self.on_batch = on_batch
        self.consumer = Consumer({
            **base, "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            # A dead worker's partitions move on quickly.
            "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000,
        })
        self.producer = Producer({
            **base, "transactional.id": transactional_id, "enable.idempotence": True,
            "linger.ms": 0,
            # An orphaned transaction (worker killed, never restarted under this id)
            # blocks committed readers until the broker aborts it: keep that short.
            "transaction.timeout.ms": 10_000,
        })
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
                for out in self.handlers[msg.topic()](msg):
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
            key = (m.topic(), m.partition())
            first[key] = min(first.get(key, m.offset()), m.offset())
        for (topic, partition), offset in first.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))
