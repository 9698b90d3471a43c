"""The console's real ports on the real broker, without a browser: what the sink publishes,
the source delivers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from examgate.adapters.kafka import KafkaClients, Topics, ensure_topics
from examgate.core import events
from examgate.core.codec import DecodedEvent
from examgate.core.settings import Settings, load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings) -> Iterator[Settings]:
    """Settings naming this test's own decision, feedback and audit topics (deleted after)."""
    run = uuid.uuid4().hex[:8]
    with pytest.MonkeyPatch.context() as mp:
        for k in ("decisions", "feedback", "audit"):
            mp.setenv(f"EXAMGATE_KAFKA__TOPICS__{k.upper()}", f"itconsolekafka{run}.{k}")
        settings = load_settings()
    topics = Topics.from_settings(settings.kafka.topics)
    created = ensure_topics(settings.kafka, [topics.decisions, topics.feedback, topics.audit])
    yield settings
    KafkaClients(settings.kafka).admin().delete_topics(created, operation_timeout=30)


def test_what_the_sink_publishes_the_source_delivers(settings: Settings) -> None:
    from dashboard.audit import Auditor
    from dashboard.ports import Outgoing
    from dashboard.wiring import console_ports

    ports = console_ports(settings, lookback_hours=1.0)
    topics = settings.kafka.topics
    got: list[tuple[str, DecodedEvent]] = []
    arrived = threading.Event()

    def deliver(topic: str, event: DecodedEvent) -> None:
        got.append((topic, event))
        if len(got) == 2:
            arrived.set()

    ports.source.start(deliver)
    try:
        feedback = events.feedback(decision_event_id=events.new_event_id(), verdict="UNSURE",
                                   reviewer_id="pat")
        auditor = Auditor(ports.events, topics.audit)
        ports.events.send([Outgoing(topics.feedback, feedback["decision_event_id"], "Feedback",
                                    feedback),
                           auditor.outgoing(actor="pat", role="proctor", action="feedback")])
        assert arrived.wait(60), f"only {len(got)} of 2 events came back"
    finally:
        ports.source.stop()
        ports.events.close()
    assert ports.source.ready
    assert sorted((t, e.name) for t, e in got) == [(topics.audit, "AuditEvent"),
                                                    (topics.feedback, "Feedback")]
