"""Topics are created one way, ``ensure_topics``, and the factory's clients use them on the real
broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from examgate.adapters.kafka import (
    EventPublisher,
    EventReader,
    KafkaClients,
    Topics,
    ensure_topics,
)
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, TopicSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(stack: Settings) -> Iterator[Topics]:
    """A whole set of ExamGate topics under random names, deleted after the test."""
    run = uuid.uuid4().hex[:10]
    names = {k: f"ittopics{run}.{k}" for k in ("checkins", "decisions", "enrollments",
                                               "feedback", "model_events", "audit")}
    settings = TopicSettings(**names, partitions=2,
                             replication_factor=stack.kafka.topics.replication_factor)
    topics = Topics.from_settings(settings)
    yield topics
    admin = KafkaClients(stack.kafka).admin()
    existing = set(admin.list_topics(timeout=10).topics)
    mine = [n for n in topics.names() if n in existing]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result(timeout=30)


def test_ensure_topics_creates_what_is_missing_once(stack: Settings, topics: Topics) -> None:
    first = [topics.checkins, topics.checkins.dead_letters]
    assert sorted(ensure_topics(stack.kafka, first)) == sorted(t.name for t in first)
    rest = [t.name for t in topics if t not in first]
    assert sorted(ensure_topics(stack.kafka, topics)) == sorted(rest)
    assert ensure_topics(stack.kafka, topics) == []  # idempotent: nothing left to create
    meta = KafkaClients(stack.kafka).admin().list_topics(timeout=10).topics
    for topic in topics:
        assert len(meta[topic.name].partitions) == topic.partitions == 2


def test_an_event_published_is_read_back_from_its_topic(stack: Settings, topics: Topics) -> None:
    topic = topics.feedback
    ensure_topics(stack.kafka, [topic])
    codec = EventCodec()
    record = events.feedback(decision_event_id=events.new_event_id(), verdict="UNSURE",
                             reviewer_id="it")
    reader = EventReader(stack.kafka, codec, [topic.name])
    publisher = EventPublisher(stack.kafka, codec, "it-topics")
    publisher.publish(topic.name, record["decision_event_id"], topic.event, record)
    assert publisher.flush(30).ok
    found = None
    for item, _ in reader.events(timeout=60):
        if not isinstance(item, Exception) and item.record["event_id"] == record["event_id"]:
            found = item
            break
    reader.close()
    assert found is not None and found.name == topic.event == "Feedback"
