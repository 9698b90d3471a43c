"""The verify slice: a CheckIn in, its Decision out (or a dead letter), in one transaction."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Message

from examgate.adapters.eos import Output
from examgate.core.codec import CodecError
from examgate.core.gate_signatures import signature_in
from examgate.core.verify import DuplicateEvent
from stream_processors.deadletter import dead_letter
from stream_processors.metrics import (
    DECISIONS,
    END_TO_END,
    ERRORS,
    GATE_LABEL,
    SIMILARITY,
    STAGE_LATENCY,
)
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.verify")
STAGE = "verify"


def handle(rt: Runtime, msg: Message) -> list[Output]:
    """Decide one check-in record; never raises for a bad or failing event."""
    try:
        checkin = rt.codec.decode(msg.value() or b"", expected="CheckIn").record
    except CodecError as exc:
        return [dead_letter(rt.settings.kafka.topics, rt.codec, msg, reason=exc.reason,
                            detail=exc.detail, stage="verify.decode_event")]
    source = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
    signature = signature_in(msg.headers())
    try:
        decision = rt.verifier.verify(checkin, source=source, payload=msg.value() or b"",
                                      signature=signature).decision
        value = rt.codec.encode("Decision", decision)
    except DuplicateEvent as exc:
        return [dead_letter(rt.settings.kafka.topics, rt.codec, msg, reason="DUPLICATE_EVENT",
                            detail=str(exc), stage="verify.event_id")]
    except Exception as exc:  # noqa: BLE001 - one event never stops the stream
        ERRORS.labels(STAGE).inc()
        log.exception("verify: giving up on %s", checkin.get("event_id"))
        return [dead_letter(rt.settings.kafka.topics, rt.codec, msg, reason="PROCESSING_FAILED",
                            detail=f"{type(exc).__name__}: {exc}", stage=STAGE)]
    _observe(decision)
    return [Output(rt.settings.kafka.topics.decisions, checkin["gate_id"].encode(), value)]


def _observe(decision: dict[str, Any]) -> None:
    DECISIONS.labels(decision["outcome"], decision["reason"], GATE_LABEL(decision["gate_id"])).inc()
    if decision["similarity"] is not None:
        SIMILARITY.observe(decision["similarity"])
    for stage, ms in decision["latency_ms"].items():
        STAGE_LATENCY.labels(stage).observe(ms / 1000)
    END_TO_END.observe(max(0.0, time.time() - decision["published_at"].timestamp()))
    log.debug("verify: %s %s %s (%s)", decision["event_id"], decision["outcome"],
              decision["reason"], decision["reason_detail"])
