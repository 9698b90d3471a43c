"""Kafka at the edge (confluent-kafka): the one place that builds clients and creates topics.

- :mod:`.clients`: :class:`KafkaClients`, the factory of consumers, producers,
  transactional producers and admin clients, all from :class:`KafkaSettings`;
- :mod:`.topics`: :class:`Topic` and :class:`Topics` (each topic with the event it
  carries and what its key means, dead-letter topics included) and :func:`ensure_topics`;
- :mod:`.publisher` and :mod:`.reader`: publishing and reading events.

The exactly-once consume loop of the processors is :mod:`examgate.adapters.eos`.
"""

from .clients import KafkaClients, private_group
from .publisher import DeliveryReport, EventPublisher
from .reader import EventReader, group_lag
from .topics import Topic, Topics, ensure_topics

__all__ = ["DeliveryReport", "EventPublisher", "EventReader", "KafkaClients", "Topic", "Topics",
           "ensure_topics", "group_lag", "private_group"]
