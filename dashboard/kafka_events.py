"""The console's Kafka adapters: an event sink on examgate's publisher, and an event source that
reads topics on a background thread (read_committed), both built by the Kafka client factory."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_END, TopicPartition

from examgate.adapters.kafka import EventPublisher, KafkaClients, private_group
from examgate.core.codec import CodecError, EventCodec
from examgate.core.settings import KafkaSettings

from .ports import Deliver, EventSink, EventSource, Outgoing, PublishError

log = logging.getLogger("examgate.console.feed")


class KafkaEventSink(EventSink):
    """Publishes through examgate's idempotent, acks=all producer, one batch at a time."""

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, client_id: str = "console",
                 timeout_s: float = 15.0) -> None:
        self._publisher = EventPublisher(kafka, codec, client_id)
        self._timeout_s = timeout_s
        # Human clicks are rare; one batch at a time tells whose delivery failed.
        self._lock = threading.Lock()

    def send(self, events: Sequence[Outgoing]) -> None:
        with self._lock:
            failed_before = len(self._publisher.report.failed)
            try:
                for e in events:
                    self._publisher.publish(e.topic, e.key, e.name, e.record)
            except Exception as exc:  # noqa: BLE001 - codec or client errors alike
                raise PublishError(f"could not publish: {exc}") from exc
            report = self._publisher.flush(self._timeout_s)
            if len(report.failed) > failed_before:
                raise PublishError(f"not delivered: {report.failed[-1][1]}")

    def close(self) -> None:
        self._publisher.flush(self._timeout_s)


class KafkaEventSource(EventSource):
    """Reads topics on a daemon thread, from ``lookback_hours`` ago (or the end) onwards.

    Its consumer group is its own and it never commits: every console instance sees
    every event, and a restart replays the lookback window to rebuild its state.
    """

    def __init__(self, kafka: KafkaSettings, codec: EventCodec, topics: list[str], *,
                 lookback_hours: float, poll_s: float = 0.5, position_timeout_s: float = 30.0,
                 position_retry_s: float = 0.5) -> None:
        self._kafka = kafka
        self._codec = codec
        self.topics = topics
        self.lookback_hours = lookback_hours
        self._poll_s = poll_s
        # A leader election (a new topic, a broker restart) answers NOT_LEADER for a few
        # seconds: keep asking where to start rather than start "at the end" later on.
        self.position_timeout_s = position_timeout_s
        self._position_retry_s = position_retry_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {"events": 0, "undecodable": 0}

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self, deliver: Deliver) -> None:
        self._thread = threading.Thread(target=self._run, args=(deliver,), daemon=True,
                                        name="console-feed")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, deliver: Deliver) -> None:
        try:
            consumer = KafkaClients(self._kafka).consumer(
                group_id=private_group("console"), offsets="latest",
                client_id="examgate-console")
            consumer.subscribe(self.topics, on_assign=self._assign)
        except Exception:  # noqa: BLE001 - reported through /healthz, never a crash
            log.exception("feed: cannot start the Kafka consumer")
            return
        log.info("feed: reading %s (lookback %.1f h)", ", ".join(self.topics),
                 self.lookback_hours)
        try:
            while not self._stop.is_set():
                msg = consumer.poll(self._poll_s)
                if msg is None:
                    continue
                if msg.error():
                    log.warning("feed: %s", msg.error())
                    continue
                self._handle(deliver, msg)
        finally:
            consumer.close()

    def _handle(self, deliver: Deliver, msg: Any) -> None:
        try:
            event = self._codec.decode(msg.value())
        except CodecError as exc:
            # The processors dead-letter bad input; here a bad record is counted and skipped.
            self.counts["undecodable"] += 1
            log.warning("feed: skipped %s[%d]@%d: %s", msg.topic(), msg.partition(),
                        msg.offset(), exc)
            return
        self.counts["events"] += 1
        try:
            deliver(msg.topic(), event)
        except Exception:  # noqa: BLE001 - one bad event must not stop the feed
            log.exception("feed: handling %s %s failed", event.name,
                          event.record.get("event_id"))

    def _assign(self, consumer: Any, parts: list[Any]) -> None:
        deadline = time.monotonic() + self.position_timeout_s
        while True:
            try:
                self._position(consumer, parts)
                break
            except Exception as exc:  # noqa: BLE001 - fall back to the end rather than stall
                if time.monotonic() < deadline and not self._stop.is_set():
                    log.info("feed: positioning partitions: %s; asking again", exc)
                    time.sleep(self._position_retry_s)
                    continue
                log.warning("feed: could not position partitions (%s); reading from the end",
                            exc)
                for p in parts:
                    p.offset = OFFSET_END
                break
        consumer.assign(parts)
        self._ready.set()

    def _position(self, consumer: Any, parts: list[Any]) -> None:
        """Pin each partition at the lookback start, or at today's end."""
        if self.lookback_hours > 0:
            since_ms = int((time.time() - self.lookback_hours * 3600) * 1000)
            found = consumer.offsets_for_times(
                [TopicPartition(p.topic, p.partition, since_ms) for p in parts], timeout=10)
            offsets = {(f.topic, f.partition): f.offset for f in found}
        else:
            offsets = {}
        for p in parts:
            offset = offsets.get((p.topic, p.partition), -1)
            # No record since then (or no lookback): pin today's end, so nothing
            # published after this moment can be skipped.
            p.offset = offset if offset >= 0 else \
                consumer.get_watermark_offsets(p, timeout=10)[1]
