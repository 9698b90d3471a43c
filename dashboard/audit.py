"""Audit records: every action a person takes in the console, as AuditEvent on the audit topic.

The disputes in the review queue are rebuilt from these records after a restart,
so an audit record is the durable form of a dispute, not only a log line.
"""

from __future__ import annotations

from examgate.core.codec import EventCodec
from examgate.core.events import audit_event as audit_event

from .ports import EventSink, Outgoing

AUDIT_EVENT = "AuditEvent"

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
FEEDBACK = "feedback"
DISPUTE = "dispute"
OUT_OF_SCOPE = "out_of_scope"  # a verdict or dispute refused: the decision is another exam's




class Auditor:
    """Writes audit records to the audit topic, keyed by the actor."""

    def __init__(self, sink: EventSink, topic: str) -> None:
        self._sink = sink
        self.topic = topic

    def outgoing(self, *, actor: str, role: str, action: str, target: str = "",
                 detail: str = "") -> Outgoing:
        """The audit record as an event to send together with others."""
        record = audit_event(actor=actor, role=role, action=action, target=target,
                             detail=detail)
        return Outgoing(self.topic, actor, AUDIT_EVENT, record)

    def record(self, *, actor: str, role: str, action: str, target: str = "",
               detail: str = "") -> None:
        """Write one audit record now; PublishError when the broker does not take it."""
        self._sink.send([self.outgoing(actor=actor, role=role, action=action, target=target,
                                       detail=detail)])


def console_codec() -> EventCodec:
    """The codec for every event the console reads and writes (AuditEvent included)."""
    return EventCodec()
