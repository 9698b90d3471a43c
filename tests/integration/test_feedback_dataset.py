"""The feedback sink on real Kafka and MinIO: committed decisions only, manifest in the bucket."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from examgate.adapters import factory
from examgate.adapters.kafka import EventPublisher, KafkaClients
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, load_settings
from trainer.feedback import build_feedback_dataset

pytestmark = pytest.mark.integration


def _decision(settings: Settings, student: str, frame: bytes) -> dict:
    eid = events.new_event_id()
    key = f"review/{student}/{eid}.jpg"
    factory.object_store(settings).put(settings.object_store.bucket_frames, key, frame,
                                     "image/jpeg")
    now = events.utcnow()
    return {"event_id": eid, "gate_id": "g1", "exam_id": "e1", "claimed_student_id": student,
            "outcome": "REVIEW", "reason": "UNCERTAIN_MATCH", "similarity": 0.38,
            "model_version": "1", "captured_at": now, "published_at": now, "decided_at": now,
            "review_frame": events.object_ref(settings.object_store.bucket_frames, key, frame)}


def test_feedback_joined_with_committed_decisions_lands_in_minio(stack, topic_factory,
                                                                  monkeypatch) -> None:
    import cv2

    for name, event in (("feedback", "Feedback"), ("decisions", "Decision"),
                        ("checkins", "CheckIn")):
        monkeypatch.setenv(f"EXAMGATE_KAFKA__TOPICS__{name.upper()}",
                           topic_factory(event, prefix=f"fbsink.{name}"))
    settings = load_settings()
    topics, codec = settings.kafka.topics, EventCodec()
    frame = cv2.imencode(".jpg", np.random.default_rng(0).integers(
        0, 255, (64, 64, 3), dtype=np.uint8))[1].tobytes()
    student = f"s-{uuid.uuid4().hex[:8]}"
    kept, aborted = _decision(settings, student, frame), _decision(settings, student, frame)

    # Decisions come from processors inside Kafka transactions; an aborted one must not count.
    producer = KafkaClients(settings.kafka).transactional_producer(
        f"fbsink-test-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(30)
    for record, commit in ((kept, True), (aborted, False)):
        producer.begin_transaction()
        producer.produce(topics.decisions, key=b"g1", value=codec.encode("Decision", record))
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)
    checkin = events.checkin(gate_id="g1", exam_id="e1", claimed_student_id=student,
                             frame=events.inline_frame(frame), event_id=kept["event_id"],
                             camera_meta=events.camera("c1", 64, 64),
                             attributes={"condition": "mask", "scenario": "it"})
    publisher = EventPublisher(settings.kafka, codec, "fbsink-test")
    publisher.publish(topics.checkins, "g1", "CheckIn", checkin)
    for d in (kept, aborted):
        publisher.publish(topics.feedback, d["event_id"], "Feedback", events.feedback(
            decision_event_id=d["event_id"], verdict="UNSURE", reviewer_id="pat"))
    # A retry with a changed mind: the later verdict is the one kept.
    publisher.publish(topics.feedback, kept["event_id"], "Feedback", events.feedback(
        decision_event_id=kept["event_id"], verdict="SAME_PERSON", reviewer_id="pat"))
    assert publisher.flush(30).ok

    objects = factory.object_store(settings)
    bucket = settings.object_store.bucket_training
    version, manifest = build_feedback_dataset(settings)
    try:
        assert version is not None
        stored = json.loads(objects.get(bucket, f"feedback/v{version}/manifest.json"))
        (sample,) = stored["samples"]
        assert sample["decision_id"] == kept["event_id"] and sample["identity"] == student
        assert sample["verdict"] == "SAME_PERSON" and sample["condition"] == "mask"
        assert objects.get(bucket, sample["object_key"]) == frame
        counts = stored["counts"]
        assert counts["feedback_events"] == 3 and counts["superseded"] == 1
        assert counts["skipped"] == {"DECISION_NOT_FOUND": 1}
        assert counts["by_condition"] == {"mask": {"SAME_PERSON": 1}}
        assert stored == json.loads(json.dumps(manifest, default=str))
    finally:
        if version is not None:
            objects.delete_prefix(bucket, f"feedback/v{version}/")
        objects.delete_prefix(settings.object_store.bucket_frames, f"review/{student}/")
