"""Fixtures for tests against the real local stack (started here if it is not running)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from examgate.core.settings import Settings


@pytest.fixture
def topic_factory(stack: Settings) -> Iterator[Callable[..., str]]:
    """Create randomly named topics through ``ensure_topics``; they are deleted after the test."""
    from examgate.adapters.kafka import KafkaClients, Topic, ensure_topics

    created: list[str] = []

    def make(event: str, *, key: str = "gate id", partitions: int = 3,
             prefix: str = "test") -> str:
        topic = Topic(f"{prefix}.{uuid.uuid4().hex[:12]}", event, key, partitions)
        assert ensure_topics(stack.kafka, [topic]) == [topic.name]
        created.append(topic.name)
        return topic.name

    yield make
    if created:
        admin = KafkaClients(stack.kafka).admin()
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def group_id() -> str:
    """A consumer group no other test shares."""
    return f"test-group-{uuid.uuid4().hex[:12]}"
