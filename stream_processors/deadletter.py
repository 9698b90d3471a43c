"""Dead letters of the processors: a record that cannot be processed goes, whole and with the
reason, to the dead-letter topic of the topic it came from, in the batch's transaction."""

from __future__ import annotations

import logging

from confluent_kafka import Message

from examgate.adapters.eos import Output
from examgate.adapters.kafka import Topics
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import TopicSettings
from stream_processors.metrics import DEAD_LETTERS

log = logging.getLogger("examgate.deadletter")


def dead_letter(topics: TopicSettings, codec: EventCodec, msg: Message, *, reason: str,
                detail: str, stage: str) -> Output:
    """The DeadLetter of ``msg``, which failed at ``stage``, for its topic's dead-letter topic."""
    source = msg.topic() or ""
    dlq = Topics.from_settings(topics).dead_letters_for(source)
    partition, offset = msg.partition() or 0, msg.offset() or 0
    record = events.dead_letter(source_topic=source, source_partition=partition,
                                source_offset=offset, key=msg.key(), payload=msg.value() or b"",
                                reason_code=reason, reason_detail=detail, stage=stage)
    DEAD_LETTERS.labels(source, record["reason_code"]).inc()
    log.warning("dead letter: %s[%d]@%d failed at %s: %s (%s)", source, partition, offset,
                stage, record["reason_code"], record["reason_detail"])
    return Output(dlq.name, msg.key(), codec.encode(dlq.event, record))
