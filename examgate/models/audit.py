"""Audit records of operators' model commands (staging, canary analyses) on the audit topic."""

from __future__ import annotations

import logging

from examgate.adapters.kafka import EventPublisher
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings

log = logging.getLogger("examgate.audit")


def record_audit(settings: Settings, actor: str, action: str, target: str,
                 detail: str) -> None:
    """One AuditEvent from an operator's command (staging, a canary analysis) on the audit
    topic; a failed delivery is logged, not raised: the MLflow run has the record too."""
    publisher = EventPublisher(settings.kafka, EventCodec(), client_id="models-cli")
    publisher.publish(settings.kafka.topics.audit, actor, "AuditEvent", events.audit_event(
        actor=actor, role="operator", action=action, target=target, detail=detail))
    report = publisher.flush()
    if report.failed:
        log.warning("the audit record of %s on %s was not delivered: %s", action, target,
                    report.failed)
