"""Topics as objects: each names the event its values are and what its key means.

:class:`Topics` is built from ``settings.kafka.topics`` (names, partitions,
replication), the dead-letter topics included, so producers, processors and the
code that creates topics share one description. :func:`ensure_topics` is the
one way topics are created: by the local stack, the tests and the tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from examgate.core.codec import EVENT_SCHEMAS
from examgate.core.settings import KafkaSettings, TopicSettings

from .clients import KafkaClients

DEAD_LETTER = "DeadLetter"


@dataclass(frozen=True)
class Topic:
    """One topic: its name, the event schema of its values, and what its key holds."""

    name: str
    event: str  # an event schema of examgate/core/schemas, e.g. "CheckIn"
    key: str  # what the record key holds; records with one key stay in order
    partitions: int = 1
    replication_factor: int = 1
    dead_letters: Topic | None = None  # where records that fail to process go

    def __post_init__(self) -> None:
        if self.event not in EVENT_SCHEMAS:
            raise ValueError(f"topic {self.name}: {self.event!r} is not an event schema "
                             f"({', '.join(EVENT_SCHEMAS)})")
        if self.partitions < 1 or self.replication_factor < 1:
            raise ValueError(f"topic {self.name}: partitions and replicas must be at least 1")

    def with_dead_letters(self, suffix: str) -> Topic:
        """This topic, with a dead-letter topic named ``name + suffix`` beside it."""
        dlq = Topic(self.name + suffix, DEAD_LETTER, f"the failed record's key ({self.key})",
                    self.partitions, self.replication_factor)
        return replace(self, dead_letters=dlq)


@dataclass(frozen=True)
class Topics:
    """Every topic ExamGate uses; iterating yields the dead-letter topics too."""

    checkins: Topic
    decisions: Topic
    enrollments: Topic
    feedback: Topic
    model_events: Topic
    audit: Topic

    @classmethod
    def from_settings(cls, topics: TopicSettings) -> Topics:
        """The topics named in ``settings.kafka.topics``, all with its partitions and replicas."""
        def topic(name: str, event: str, key: str) -> Topic:
            return Topic(name, event, key, topics.partitions, topics.replication_factor)

        suffix = topics.dlq_suffix
        return cls(
            checkins=topic(topics.checkins, "CheckIn", "gate id").with_dead_letters(suffix),
            decisions=topic(topics.decisions, "Decision", "gate id"),
            enrollments=topic(topics.enrollments, "Enrollment",
                              "student id").with_dead_letters(suffix),
            feedback=topic(topics.feedback, "Feedback",
                           "decision event id").with_dead_letters(suffix),
            model_events=topic(topics.model_events, "ModelChanged", "registered model name"),
            audit=topic(topics.audit, "AuditEvent", "actor"),
        )

    def main(self) -> tuple[Topic, ...]:
        """The topics events are published to, without their dead-letter topics."""
        return (self.checkins, self.decisions, self.enrollments, self.feedback,
                self.model_events, self.audit)

    def __iter__(self) -> Iterator[Topic]:
        main = self.main()
        yield from main
        yield from (t.dead_letters for t in main if t.dead_letters is not None)

    def names(self) -> list[str]:
        """The name of every topic, dead-letter topics last."""
        return [t.name for t in self]

    def named(self, name: str) -> Topic:
        """The topic called ``name``; KeyError when ExamGate has none by that name."""
        for t in self:
            if t.name == name:
                return t
        raise KeyError(f"no topic named {name!r}")

    def dead_letters_for(self, name: str) -> Topic:
        """The dead-letter topic of topic ``name``; KeyError when it has none."""
        dlq = self.named(name).dead_letters
        if dlq is None:
            raise KeyError(f"topic {name!r} has no dead-letter topic")
        return dlq


def new_topic(topic: Topic) -> NewTopic:
    """The admin request that creates ``topic``."""
    return NewTopic(topic.name, num_partitions=topic.partitions,
                    replication_factor=topic.replication_factor)


def ensure_topics(kafka: KafkaSettings, topics: Iterable[Topic], *, timeout_s: float = 30.0,
                  extra: Mapping[str, Any] | None = None) -> list[str]:
    """Create the topics that do not exist yet and return their names; others stay as they are."""
    admin = KafkaClients(kafka).admin(extra=extra)
    wanted = {t.name: t for t in topics}
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [t for name, t in wanted.items() if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics([new_topic(t) for t in missing],
                                  operation_timeout=timeout_s, request_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created
