"""The feedback slice: reviewers' verdicts joined with decisions and frames into training data."""

from stream_processors.feedback.sink import (
    KafkaTopicSource,
    MemoryTopicSource,
    TopicSource,
    build_dataset,
    build_feedback_dataset,
    summary,
)

__all__ = ["KafkaTopicSource", "MemoryTopicSource", "TopicSource", "build_dataset",
           "build_feedback_dataset", "summary"]
