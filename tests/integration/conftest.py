"""Fixtures for tests against the real local stack (started here if it is not running)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from examgate.settings import Settings


@pytest.fixture
def topic_factory(stack: Settings) -> Iterator[Callable[..., str]]:
    """Create Kafka topics with random names; they are deleted after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(stack.kafka.client_config())
    created: list[str] = []

    def make(partitions: int = 3, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        future = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                               replication_factor=1)])[name]
        future.result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def group_id() -> str:
    """A consumer group no other test shares."""
    return f"test-group-{uuid.uuid4().hex[:12]}"
