"""The verify slice: a CheckIn in, its Decision out (or a dead letter), in one transaction."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Message

from examgate.codec import CodecError
from stream_processors.deadletter import dead_letter_bytes
from stream_processors.eos import Output
from stream_processors.metrics import DECISIONS, END_TO_END, ERRORS, SIMILARITY, STAGE_LATENCY
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.verify")
STAGE = "verify"


def _dead_letter(rt: Runtime, msg: Message, reason: str, detail: str, stage: str) -> Output:
    topics = rt.settings.kafka.topics
    return Output(topics.checkins + topics.dlq_suffix, msg.key(), dead_letter_bytes(
        rt.codec, topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
        key=msg.key(), payload=msg.value() or b"", reason=reason, detail=detail, stage=stage))


def handle(rt: Runtime, msg: Message) -> list[Output]:
    """Decide one check-in record; never raises for a bad or failing event."""
    try:
        checkin = rt.codec.decode(msg.value() or b"", expected="CheckIn").record
    except CodecError as exc:
        return [_dead_letter(rt, msg, exc.reason, exc.detail, "verify.decode_event")]
    try:
        decision = rt.verifier.verify(checkin).decision
        value = rt.codec.encode("Decision", decision)
    except Exception as exc:  # noqa: BLE001 - one event never stops the stream
        ERRORS.labels(STAGE).inc()
        log.exception("verify: giving up on %s", checkin.get("event_id"))
        return [_dead_letter(rt, msg, "PROCESSING_FAILED", f"{type(exc).__name__}: {exc}",
                             STAGE)]
    _observe(decision)
    return [Output(rt.settings.kafka.topics.decisions, checkin["gate_id"].encode(), value)]


def _observe(decision: dict[str, Any]) -> None:
    DECISIONS.labels(decision["outcome"], decision["reason"], decision["gate_id"]).inc()
    if decision["similarity"] is not None:
        SIMILARITY.observe(decision["similarity"])
    for stage, ms in decision["latency_ms"].items():
        STAGE_LATENCY.labels(stage).observe(ms / 1000)
    END_TO_END.observe(max(0.0, time.time() - decision["published_at"].timestamp()))
    log.debug("verify: %s %s %s (%s)", decision["event_id"], decision["outcome"],
              decision["reason"], decision["reason_detail"])
