"""The console's Kafka source positions its partitions through a broker's leader election."""

from __future__ import annotations

from typing import Any

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition

from dashboard.kafka_events import KafkaEventSource
from examgate.core.codec import EventCodec
from examgate.core.settings import KafkaSettings


class _ElectingConsumer:
    """Answers NOT_LEADER_FOR_PARTITION ``fails`` times (as right after a topic is created or
    a broker restarts), then the real offsets."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.assigned: list[TopicPartition] = []

    def _maybe_fail(self) -> None:
        if self.fails > 0:
            self.fails -= 1
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))

    def offsets_for_times(self, parts: list[TopicPartition], timeout: float) -> Any:
        self._maybe_fail()
        return [TopicPartition(p.topic, p.partition, 3) for p in parts]

    def get_watermark_offsets(self, part: TopicPartition, timeout: float) -> tuple[int, int]:
        self._maybe_fail()
        return 0, 7

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = parts


def _source(lookback_hours: float) -> KafkaEventSource:
    return KafkaEventSource(KafkaSettings(), EventCodec(), ["examgate.decisions"],
                            lookback_hours=lookback_hours, position_retry_s=0.01)


def test_a_passing_leader_election_delays_the_feed_rather_than_skipping_events():
    for lookback, expected in ((0.0, 7), (1.0, 3)):
        consumer = _ElectingConsumer(fails=3)
        source = _source(lookback)
        source._assign(consumer, [TopicPartition("examgate.decisions", 0)])
        # Pinned where it should be, not at "the end whenever the fetch starts" (which
        # loses whatever is published meanwhile).
        assert [p.offset for p in consumer.assigned] == [expected]
        assert source.ready


def test_a_broker_that_never_answers_still_starts_the_feed_at_the_end():
    consumer = _ElectingConsumer(fails=10**6)
    source = _source(0.0)
    source.position_timeout_s = 0.05
    source._assign(consumer, [TopicPartition("examgate.decisions", 0)])
    assert [p.offset for p in consumer.assigned] == [OFFSET_END] and source.ready
