"""A deleted student's training copies leave the real training bucket (issue 12, finding 6):
the sink writes a version to MinIO, the enroller's DELETE scrubs it there."""

from __future__ import annotations

import json
import uuid

import pytest

from examgate.adapters.objectstore import S3ObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.erasure import manifest_key
from examgate.core.settings import Settings
from trainer.feedback import MemoryTopicSource, build_dataset

pytestmark = pytest.mark.integration


def _reviewed(source: MemoryTopicSource, objects: S3ObjectStore, settings: Settings,
              student: str, verdict: str) -> None:
    codec, frames = EventCodec(), settings.object_store.bucket_frames
    eid, now = events.new_event_id(), events.utcnow()
    frame, key = f"frame {eid}".encode(), f"review/{student}/{eid}.jpg"
    objects.put(frames, key, frame, "image/jpeg")
    source.append(settings.kafka.topics.decisions, codec.encode("Decision", {
        "event_id": eid, "gate_id": "g1", "exam_id": "e1", "claimed_student_id": student,
        "outcome": "REVIEW", "reason": "UNCERTAIN_MATCH", "similarity": 0.4,
        "model_version": "1", "review_frame": events.object_ref(frames, key, frame),
        "captured_at": now, "published_at": now, "decided_at": now}))
    source.append(settings.kafka.topics.feedback, codec.encode("Feedback", events.feedback(
        decision_event_id=eid, verdict=verdict, reviewer_id="pat")))


def test_delete_scrubs_the_training_bucket(stack: Settings) -> None:
    cfg = stack.object_store
    objects = S3ObjectStore.from_settings(cfg)
    gone, kept = (f"s-{uuid.uuid4().hex[:8]}" for _ in range(2))
    source = MemoryTopicSource()
    for student, verdict in ((gone, "SAME_PERSON"), (gone, "DIFFERENT_PERSON"),
                             (kept, "SAME_PERSON")):
        _reviewed(source, objects, stack, student, verdict)
    version, manifest = build_dataset(source, objects, topics=stack.kafka.topics,
                                      bucket=cfg.bucket_training, with_checkins=False)
    assert version is not None
    folder = manifest_key(version).rsplit("/", 1)[0]
    try:
        enroller = Enroller(MemoryTemplateStore(), objects, Sealer(b"k" * 32),
                            cfg.bucket_enrollment, cfg.bucket_frames,
                            training_bucket=cfg.bucket_training)
        enroller.delete(gone)
        enroller.delete(gone)  # a replay: nothing more to do, no error

        raw = objects.get(cfg.bucket_training, manifest_key(version))
        assert gone not in raw.decode()
        doc = json.loads(raw)
        (sample,) = doc["samples"]
        assert sample["identity"] == kept and doc["counts"]["erased"] == 2
        assert objects.keys(cfg.bucket_training, f"{folder}/samples/") == [sample["object_key"]]
        assert objects.keys(cfg.bucket_frames, f"review/{gone}/") == []
    finally:
        objects.delete_prefix(cfg.bucket_training, f"{folder}/")
        for student in (gone, kept):
            objects.delete_prefix(cfg.bucket_frames, f"review/{student}/")


def test_deleting_one_object_leaves_its_longer_named_neighbour(stack: Settings) -> None:
    cfg = stack.object_store
    objects = S3ObjectStore.from_settings(cfg)
    prefix = f"it-delete-{uuid.uuid4().hex[:8]}/"
    try:
        for key in ("abc.jpg", "abc.jpg.jpg"):
            objects.put(cfg.bucket_training, prefix + key, b"x")
        objects.delete(cfg.bucket_training, prefix + "abc.jpg")
        objects.delete(cfg.bucket_training, prefix + "abc.jpg")  # missing: no error
        assert objects.keys(cfg.bucket_training, prefix) == [prefix + "abc.jpg.jpg"]
    finally:
        objects.delete_prefix(cfg.bucket_training, prefix)
