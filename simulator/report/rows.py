"""A result row: one planned check-in joined with the decision that came back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from simulator.scenario import PlannedCheckIn

Outcome = Literal["ACCEPT", "REVIEW", "REJECT"]


def _epoch(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


class ResultRow(BaseModel):
    """Ground truth and what the system decided, for one check-in.

    ``outcome`` None means no decision arrived. Times are epoch seconds (a
    datetime is converted); ``latency_ms`` is end to end, send to decision received.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    checkin_id: str
    condition: str
    probe_kind: str
    is_genuine: bool
    attack: str | None = None
    instrument: str | None = None
    gender: str | None = None
    scenario: str | None = None
    gate_id: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    similarity: float | None = None
    liveness_verdict: str | None = None  # LIVE, UNCERTAIN, ATTACK, NOT_CHECKED; None: no record
    liveness_score: float | None = None
    latency_ms: float | None = None
    sent_at: float | None = None
    decided_at: float | None = None
    model_version: str | None = None
    shadow_model: str | None = None
    shadow_outcome: Outcome | None = None
    shadow_reason: str | None = None
    shadow_similarity: float | None = None
    # A second look (the gate prompted a turn and sent a new burst): the first check-in's id.
    second_look_of: str | None = None

    @field_validator("sent_at", "decided_at", mode="before")
    @classmethod
    def _datetime_to_epoch(cls, value: Any) -> Any:
        return _epoch(value)


def row_from(planned: PlannedCheckIn, decision: Mapping[str, Any] | None, *,
             sent_at: float | None = None, received_at: float | None = None,
             scenario: str | None = None, second_look_of: str | None = None) -> ResultRow:
    """Join a planned check-in with its Decision record (None if it never came);
    ``second_look_of`` names the check-in this one is the second look of."""
    base: dict[str, Any] = {"checkin_id": planned.checkin_id, "condition": planned.condition,
            "probe_kind": planned.probe_kind, "is_genuine": planned.is_genuine,
            "attack": planned.attack, "instrument": planned.instrument,
            "gender": planned.gender, "scenario": scenario, "gate_id": planned.gate_id,
            "sent_at": sent_at, "second_look_of": second_look_of}
    if decision is None:
        return ResultRow(**base)
    shadow = decision.get("shadow") or {}
    liveness = decision.get("liveness") or {}
    latency = None
    if sent_at is not None and received_at is not None:
        latency = (float(_epoch(received_at)) - float(_epoch(sent_at))) * 1000.0
    return ResultRow(
        **base, outcome=decision.get("outcome"), reason=decision.get("reason"),
        similarity=decision.get("similarity"), latency_ms=latency,
        liveness_verdict=liveness.get("verdict"), liveness_score=liveness.get("score"),
        decided_at=decision.get("decided_at"), model_version=decision.get("model_version"),
        shadow_model=shadow.get("model_version"), shadow_outcome=shadow.get("outcome"),
        shadow_reason=shadow.get("reason"), shadow_similarity=shadow.get("similarity"),
    )


def as_rows(rows: Any) -> list[ResultRow]:
    """Rows given as :class:`ResultRow` or mappings, validated."""
    return [r if isinstance(r, ResultRow) else ResultRow.model_validate(r) for r in rows]
