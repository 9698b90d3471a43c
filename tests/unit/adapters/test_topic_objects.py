"""Topics as objects: names from the settings, the event each carries, dead-letter topics."""

from __future__ import annotations

import pytest

from examgate.adapters.kafka import Topic, Topics
from examgate.adapters.kafka.topics import new_topic
from examgate.core.codec import EVENT_SCHEMAS
from examgate.core.settings import TopicSettings


def test_topics_are_the_settings_topics_in_the_same_order() -> None:
    settings = TopicSettings()
    assert Topics.from_settings(settings).names() == settings.all_topics()


def test_each_topic_carries_its_event_key_and_size() -> None:
    topics = Topics.from_settings(TopicSettings(checkins="in", partitions=12,
                                                replication_factor=3))
    assert {t.name: t.event for t in topics.main()} == {
        "in": "CheckIn", "gate.decisions": "Decision", "enrollment.requests": "Enrollment",
        "gate.feedback": "Feedback", "model.events": "ModelChanged",
        "audit.events": "AuditEvent"}
    assert topics.checkins.key == topics.decisions.key == "gate id"
    assert all(t.partitions == 12 and t.replication_factor == 3 for t in topics)
    assert all(t.event in EVENT_SCHEMAS for t in topics)


def test_dead_letter_topics() -> None:
    topics = Topics.from_settings(TopicSettings(dlq_suffix=".dead"))
    dlq = topics.dead_letters_for("gate.checkins")
    assert dlq == topics.checkins.dead_letters
    assert (dlq.name, dlq.event, dlq.partitions) == ("gate.checkins.dead", "DeadLetter", 3)
    assert topics.named("gate.checkins.dead") == dlq
    assert {t.name for t in topics if t.event == "DeadLetter"} == {
        "gate.checkins.dead", "enrollment.requests.dead", "gate.feedback.dead"}
    with pytest.raises(KeyError):
        topics.dead_letters_for("gate.decisions")  # decisions are output, never dead-lettered
    with pytest.raises(KeyError):
        topics.named("no.such.topic")


def test_a_topic_must_carry_a_known_event() -> None:
    with pytest.raises(ValueError, match="not an event schema"):
        Topic("t", "Checkin", "gate id")
    with pytest.raises(ValueError, match="at least 1"):
        Topic("t", "CheckIn", "gate id", partitions=0)


def test_topics_are_frozen_values() -> None:
    topic = Topic("t", "CheckIn", "gate id", 3)
    with pytest.raises(AttributeError):
        topic.name = "u"  # type: ignore[misc]
    assert topic == Topic("t", "CheckIn", "gate id", 3)
    request = new_topic(topic)
    assert (request.topic, request.num_partitions, request.replication_factor) == ("t", 3, 1)
