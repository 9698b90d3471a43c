"""The client factory: every confluent-kafka consumer, producer and admin client is built here.

Connection and security come from :class:`KafkaSettings`; delivery and isolation
choices are made once here, so a consumer in the console and one in the trainer
read the same way. Each builder has a ``*_config`` twin that returns the
librdkafka properties without connecting. ``extra`` adds or replaces properties
for one caller, and says so where it is passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from examgate.core.settings import KafkaSettings

Config = dict[str, Any]
Isolation = Literal["read_committed", "read_uncommitted"]
Offsets = Literal["earliest", "latest"]

# An orphaned transaction (its producer killed and never restarted under the same id)
# blocks read_committed readers until the broker aborts it: keep that wait short.
TRANSACTION_TIMEOUT_MS = 10_000


def private_group(name: str) -> str:
    """A consumer group for one reader alone (``examgate-<name>-<random>``), never shared."""
    return f"examgate-{name}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class KafkaClients:
    """Builds the Kafka clients of one cluster."""

    kafka: KafkaSettings

    def _with(self, conf: Config, extra: Mapping[str, Any] | None) -> Config:
        return {**self.kafka.client_config(), **conf, **(extra or {})}

    def consumer_config(self, *, group_id: str, offsets: Offsets = "earliest",
                        isolation: Isolation = "read_committed", client_id: str | None = None,
                        extra: Mapping[str, Any] | None = None) -> Config:
        """A consumer that never auto-commits: offsets move in transactions, or not at all."""
        conf: Config = {"group.id": group_id, "auto.offset.reset": offsets,
                        "isolation.level": isolation, "enable.auto.commit": False}
        if client_id is not None:
            conf["client.id"] = client_id
        return self._with(conf, extra)

    def consumer(self, *, group_id: str, offsets: Offsets = "earliest",
                 isolation: Isolation = "read_committed", client_id: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> Consumer:
        """A consumer in ``group_id`` (see :meth:`consumer_config`)."""
        return Consumer(self.consumer_config(group_id=group_id, offsets=offsets,
                                             isolation=isolation, client_id=client_id,
                                             extra=extra))

    def producer_config(self, *, client_id: str,
                        extra: Mapping[str, Any] | None = None) -> Config:
        """An idempotent producer: every replica acknowledges, retries never duplicate."""
        return self._with({"client.id": client_id, "enable.idempotence": True, "acks": "all",
                           "linger.ms": 2, "message.timeout.ms": 60_000}, extra)

    def producer(self, *, client_id: str, extra: Mapping[str, Any] | None = None) -> Producer:
        """An idempotent producer (see :meth:`producer_config`)."""
        return Producer(self.producer_config(client_id=client_id, extra=extra))

    def transactional_producer_config(self, transactional_id: str, *,
                                      extra: Mapping[str, Any] | None = None) -> Config:
        """A transactional producer; a successor with the same id fences its predecessor."""
        return self._with({"transactional.id": transactional_id, "enable.idempotence": True,
                           "linger.ms": 0, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS},
                          extra)

    def transactional_producer(self, transactional_id: str, *,
                               extra: Mapping[str, Any] | None = None) -> Producer:
        """A transactional producer (see :meth:`transactional_producer_config`)."""
        return Producer(self.transactional_producer_config(transactional_id, extra=extra))

    def admin_config(self, *, extra: Mapping[str, Any] | None = None) -> Config:
        """An admin client: the connection properties and nothing else."""
        return self._with({}, extra)

    def admin(self, *, extra: Mapping[str, Any] | None = None) -> AdminClient:
        """An admin client (topics, consumer groups)."""
        return AdminClient(self.admin_config(extra=extra))
