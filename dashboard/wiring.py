"""Connects the console to the real services: Kafka, the S3 object store and the template key."""

from __future__ import annotations

from examgate.adapters import factory
from examgate.adapters.kafka import Topics
from examgate.core.settings import Settings

from .audit import console_codec
from .kafka_events import KafkaEventSink, KafkaEventSource
from .ports import ConsolePorts


def console_ports(settings: Settings, lookback_hours: float) -> ConsolePorts:
    """The real adapters, reading decisions, feedback and audit events from ``lookback_hours``."""
    codec = console_codec()
    topics = Topics.from_settings(settings.kafka.topics)
    return ConsolePorts(
        events=KafkaEventSink(settings.kafka, codec),
        source=KafkaEventSource(settings.kafka, codec,
                                [topics.decisions.name, topics.feedback.name, topics.audit.name],
                                lookback_hours=lookback_hours),
        objects=factory.object_store(settings),
        sealer=factory.sealer(settings),
        templates=factory.template_store(settings),
    )
