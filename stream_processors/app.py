"""Builds a processor worker from its slices; nothing here runs at import time."""

from __future__ import annotations

from functools import partial

from confluent_kafka import Consumer

from examgate.adapters.eos import TransactionalProcessor
from examgate.adapters.kafka import Topics
from stream_processors.deadletter import dead_letter
from stream_processors.metrics import CONSUMER_LAG
from stream_processors.runtime import Runtime

SLICES = ("verify", "enroll")


def _record_lag(consumer: Consumer) -> None:
    """Consumer lag per assigned partition, from the client's cached watermarks."""
    assignment = consumer.assignment()
    for tp in consumer.position(assignment):
        try:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
        except Exception:  # noqa: BLE001 - no watermark yet for a new assignment
            continue
        if high >= 0 and tp.offset >= 0:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))


def create_app(rt: Runtime, slices: tuple[str, ...] = SLICES) -> TransactionalProcessor:
    """One exactly-once processor over the topics of the chosen slices."""
    kafka = rt.settings.kafka
    topics = Topics.from_settings(kafka.topics)
    handlers = {}
    if "verify" in slices:
        from stream_processors.verify import agents as verify

        handlers[topics.checkins.name] = partial(verify.handle, rt)
    if "enroll" in slices:
        from stream_processors.enroll import agents as enroll

        handlers[topics.enrollments.name] = partial(enroll.handle, rt)
    return TransactionalProcessor(
        kafka, handlers, group_id=kafka.processor_group,
        # Stable per worker name: a restarted worker fences its dead predecessor at once.
        transactional_id=f"{kafka.processor_group}-{rt.worker_id}",
        on_batch=_record_lag,
        # Dead letters the loop makes itself are counted and logged like the slices' own.
        dead_letters=partial(dead_letter, kafka.topics, rt.codec),
        parallel={topics.checkins.name: rt.settings.checkin.parallel})
