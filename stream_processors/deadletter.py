"""Dead-letter records: the original bytes, where they came from and why they failed."""

from __future__ import annotations

import logging

from examgate import events
from examgate.codec import EventCodec
from stream_processors.metrics import DEAD_LETTERS

log = logging.getLogger("examgate.deadletter")


def dead_letter_bytes(codec: EventCodec, *, topic: str, partition: int, offset: int,
                      key: bytes | None, payload: bytes, reason: str, detail: str,
                      stage: str) -> bytes:
    """Encode a DeadLetter for a record that failed at ``stage``."""
    DEAD_LETTERS.labels(topic, reason).inc()
    log.warning("dead letter: %s[%d]@%d failed at %s: %s (%s)", topic, partition, offset,
                stage, reason, detail)
    return codec.encode("DeadLetter", events.dead_letter(
        source_topic=topic, source_partition=partition, source_offset=offset, key=key,
        payload=payload, reason_code=reason, reason_detail=detail[:2000], stage=stage))
