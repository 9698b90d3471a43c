"""Dead letters of the processors: a record that cannot be processed goes, with the reason, to the
dead-letter topic of the topic it came from, in the batch's transaction.

Its bytes go with it up to ``kafka.topics.dlq_payload_max_bytes``; a larger record is
named by its SHA-256, size and position instead, so that its dead letter always fits
the broker.
"""

from __future__ import annotations

import logging

from confluent_kafka import Message

from examgate.adapters.eos import Output, dead_letter_output
from examgate.core.codec import EventCodec
from examgate.core.settings import TopicSettings
from stream_processors.metrics import DEAD_LETTERS

log = logging.getLogger("examgate.deadletter")


def dead_letter(topics: TopicSettings, codec: EventCodec, msg: Message, *, reason: str,
                detail: str, stage: str, max_payload: int | None = None) -> Output:
    """The DeadLetter of ``msg``, which failed at ``stage``, for its topic's dead-letter topic."""
    out, record = dead_letter_output(topics, codec, msg, reason=reason, detail=detail,
                                     stage=stage, max_payload=max_payload)
    source = record["source_topic"]
    DEAD_LETTERS.labels(source, record["reason_code"]).inc()
    log.warning("dead letter: %s[%d]@%d failed at %s: %s (%s)%s", source,
                record["source_partition"], record["source_offset"], stage,
                record["reason_code"], record["reason_detail"],
                "" if record["payload_kept"] else
                f"; its {record['payload_size']} bytes are not kept (sha256 "
                f"{record['payload_sha256']})")
    return out
