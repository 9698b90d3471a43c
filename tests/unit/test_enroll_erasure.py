"""Deleting a student erases their training copies too (issue 12, finding 6): the feedback
samples that show them, or that were taken at a check-in claiming their id, and every word of
them in the manifests of the feedback dataset versions already written."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from confluent_kafka import Message

from examgate.adapters.kafka.clients import TRANSACTION_TIMEOUT_MS
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.erasure import erase_training_copies
from examgate.core.ports import ObjectStoreError
from examgate.core.settings import Settings, TopicSettings
from examgate.core.verify import Verifier
from stream_processors.enroll import agents as enroll
from stream_processors.runtime import Runtime
from trainer.feedback import MANIFEST_SCHEMA, MemoryTopicSource, build_dataset, checked_key

CODEC, TOPICS = EventCodec(), TopicSettings()
FRAMES, TRAINING = "frames", "training"
ANNA, BERT = "anna-7f3c", "bert-2c9d"  # ids no other field of a manifest could contain


class Sink:
    """Decisions, check-ins and verdicts in memory, turned into dataset versions by the real
    feedback sink, so the erasure meets the manifests the sink writes."""

    def __init__(self, objects: MemoryObjectStore) -> None:
        self.source = MemoryTopicSource()
        self.objects = objects

    def reviewed(self, student: str, verdict: str, shift_s: float = 0.0) -> str:
        eid = events.new_event_id()
        now = events.utcnow()
        frame = f"frame of {eid}".encode()
        key = f"review/{student}/{eid}.jpg"
        self.objects.put(FRAMES, key, frame)
        decision = {
            "event_id": eid, "gate_id": "g1", "exam_id": "e1", "claimed_student_id": student,
            "outcome": "REVIEW", "reason": "UNCERTAIN_MATCH", "similarity": 0.4,
            "model_version": "1", "review_frame": events.object_ref(FRAMES, key, frame),
            "captured_at": now, "published_at": now, "decided_at": now,
        }
        self.source.append(TOPICS.decisions, CODEC.encode("Decision", decision))
        fb = events.feedback(decision_event_id=eid, verdict=verdict, reviewer_id="pat")
        fb["reviewed_at"] += timedelta(seconds=shift_s)
        self.source.append(TOPICS.feedback, CODEC.encode("Feedback", fb))
        return eid

    def build(self, **kwargs) -> int:
        version, _ = build_dataset(self.source, self.objects, topics=TOPICS, bucket=TRAINING,
                                   codec=CODEC, with_checkins=False, **kwargs)
        assert version is not None
        return version


def _manifests(objects: MemoryObjectStore) -> dict[str, bytes]:
    return {k: objects.get(TRAINING, k) for k in objects.keys(TRAINING, "feedback/")
            if k.endswith("/manifest.json")}


def _samples(objects: MemoryObjectStore) -> set[str]:
    return {k for k in objects.keys(TRAINING, "feedback/") if "/samples/" in k}


def _names(sample: dict, student: str) -> bool:
    return student in (sample["identity"], sample["claimed_student_id"])


def _readable(doc: dict) -> None:
    """What trainer.data.read_manifest asks of a manifest (it needs torch, absent here)."""
    assert doc["schema"] == MANIFEST_SCHEMA
    for s in doc["samples"]:
        assert isinstance(s["key"], str) and s["key"] and checked_key(s["key"])
        assert isinstance(s["identity"], str) and s["identity"]


@pytest.fixture
def world() -> tuple[MemoryObjectStore, Enroller, dict[str, bytes]]:
    """Three versions: v1 and v2 hold both students (v2 all verdicts so far), v3 only Anna."""
    objects = MemoryObjectStore()
    sink = Sink(objects)
    sink.reviewed(ANNA, "SAME_PERSON")
    sink.reviewed(ANNA, "DIFFERENT_PERSON")  # someone else claiming Anna's id: still hers
    sink.reviewed(BERT, "SAME_PERSON")
    assert sink.build() == 1
    sink.reviewed(BERT, "DIFFERENT_PERSON")
    sink.reviewed(ANNA, "SAME_PERSON", shift_s=3600)
    assert sink.build() == 2
    assert sink.build(since=events.utcnow() + timedelta(minutes=30)) == 3
    enroller = Enroller(MemoryTemplateStore(), objects, Sealer(b"k" * 32), "enrollment",
                        FRAMES, training_bucket=TRAINING)
    return objects, enroller, _manifests(objects)


def test_delete_erases_the_students_samples_and_every_word_of_them(world, caplog,
                                                                    monkeypatch) -> None:
    objects, enroller, before = world
    # MLflow's migrations (an earlier test) configure logging with disable_existing_loggers.
    monkeypatch.setattr(logging.getLogger("examgate.enrollment"), "disabled", False)
    docs = {k: json.loads(v) for k, v in before.items()}
    hers = {f"{k.rsplit('/', 1)[0]}/{s['key']}" for k, d in docs.items()
            for s in d["samples"] if _names(s, ANNA)}
    assert len(hers) == 2 + 3 + 1 and hers <= _samples(objects)
    kept = _samples(objects) - hers

    with caplog.at_level(logging.INFO, "examgate.enrollment"):
        enroller.apply(events.enrollment(student_id=ANNA, action="DELETE"), [], [])

    assert _samples(objects) == kept  # hers gone from every version, Bert's all there
    after = _manifests(objects)
    assert set(after) == set(before)
    for key, raw in after.items():
        assert ANNA not in raw.decode(), f"{key} still names the deleted student"
        doc, old = json.loads(raw), docs[key]
        _readable(doc)
        assert doc["samples"] == [s for s in old["samples"] if not _names(s, ANNA)]
        removed = len(old["samples"]) - len(doc["samples"])
        assert doc["counts"]["erased"] == removed > 0
        assert doc["counts"]["samples"] == len(doc["samples"])
        assert sum(doc["counts"]["by_label"].values()) == len(doc["samples"])
        assert sum(sum(c.values()) for c in doc["counts"]["by_condition"].values()) == \
            len(doc["samples"])
        assert set(doc["counts"]["by_identity"]) == {s["identity"] for s in doc["samples"]}
        for s in doc["samples"]:
            assert objects.get(TRAINING, s["object_key"])  # what is named is still there
    assert json.loads(after["feedback/v3/manifest.json"])["samples"] == []
    assert objects.keys(FRAMES, f"review/{ANNA}/") == []
    assert objects.keys(FRAMES, f"review/{BERT}/")
    assert "6 training sample(s)" in caplog.text


def test_a_replayed_delete_changes_nothing_more(world) -> None:
    objects, enroller, _ = world
    enroller.delete(ANNA)
    manifests, samples = _manifests(objects), _samples(objects)
    enroller.delete(ANNA)
    assert _manifests(objects) == manifests and _samples(objects) == samples
    assert erase_training_copies(objects, TRAINING, ANNA).samples == 0


def test_a_student_with_no_training_copies_leaves_the_manifests_as_they_were(world) -> None:
    objects, enroller, before = world
    samples = _samples(objects)
    enroller.delete("carl-0000")
    assert _manifests(objects) == before and _samples(objects) == samples


def test_erasure_counts_what_it_did(world) -> None:
    objects, _, _ = world
    erased = erase_training_copies(objects, TRAINING, BERT)
    assert (erased.samples, erased.versions) == (1 + 2, 2)


def test_a_sample_another_entry_still_names_is_not_deleted() -> None:
    objects = MemoryObjectStore()
    shared = "feedback/v1/samples/x.jpg"
    objects.put(TRAINING, shared, b"jpeg")
    entry = {"key": "samples/x.jpg", "object_key": shared, "claimed_student_id": BERT}
    doc = {"schema": MANIFEST_SCHEMA, "counts": {"samples": 2},
           "samples": [{**entry, "identity": ANNA}, {**entry, "identity": BERT}]}
    objects.put(TRAINING, "feedback/v1/manifest.json", json.dumps(doc).encode())
    erase_training_copies(objects, TRAINING, ANNA)
    assert objects.get(TRAINING, shared) == b"jpeg"
    assert ANNA not in objects.get(TRAINING, "feedback/v1/manifest.json").decode()


def test_deleting_one_object_deletes_no_other_and_tolerates_a_missing_one() -> None:
    objects = MemoryObjectStore()
    for key in ("s/abc.jpg", "s/abc.jpg.jpg"):
        objects.put(TRAINING, key, b"x")
    objects.delete(TRAINING, "s/abc.jpg")
    objects.delete(TRAINING, "s/abc.jpg")
    assert objects.keys(TRAINING) == ["s/abc.jpg.jpg"]


# --- through the enroll slice: an unreachable training bucket is a replayable dead letter ---

TRANSACTION_S = TRANSACTION_TIMEOUT_MS / 1000


class FakeTime:
    """A clock that only moves when slept on or moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    fake = FakeTime()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    yield fake


class TrainingBucketDown(MemoryObjectStore):
    """Every bucket answers but the training one, while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self._bucket = ""

    def _check(self) -> None:
        if self.down and self._bucket == TRAINING:
            raise ObjectStoreError("training bucket unreachable (simulated)")

    def get(self, bucket: str, key: str) -> bytes:
        self._bucket = bucket
        return super().get(bucket, key)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        self._bucket = bucket
        return super().keys(bucket, prefix)

    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        self._bucket = bucket
        super().put(bucket, key, data, content_type)

    def delete(self, bucket: str, key: str) -> None:
        self._bucket = bucket
        super().delete(bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        self._bucket = bucket
        return super().delete_prefix(bucket, prefix)


def test_an_unreachable_training_bucket_is_a_replayable_dead_letter(clock: FakeTime) -> None:
    objects = TrainingBucketDown()
    sink = Sink(objects)
    sink.reviewed(ANNA, "SAME_PERSON")
    sink.reviewed(BERT, "SAME_PERSON")
    sink.build()
    templates = MemoryTemplateStore()
    enroller = Enroller(templates, objects, Sealer(b"k" * 32), "enrollment", FRAMES,
                        training_bucket=TRAINING)
    verifier = Verifier(templates, objects, FRAMES, None, processor_id="w0")  # type: ignore[arg-type]
    rt = Runtime(Settings(), CODEC, templates, objects, None, verifier, enroller, "w0")
    request = events.enrollment(student_id=ANNA, action="DELETE")
    msg = Message(topic="enrollment.requests", partition=0, offset=7, key=ANNA.encode(),
                  value=CODEC.encode("Enrollment", request))

    objects.down = True
    (out,) = enroll.handle(rt, msg)
    letter = CODEC.decode(out.value, expected="DeadLetter").record
    assert letter["reason_code"] == "FRAME_UNAVAILABLE"
    assert letter["reason_detail"].startswith("REPLAYABLE")
    assert letter["payload"] == msg.value()
    assert ANNA in objects.objects[(TRAINING, "feedback/v1/manifest.json")].decode()

    objects.down = False
    clock.now += TRANSACTION_S  # a later transaction: the store is tried again
    assert enroll.handle(rt, msg) == []  # the operator replays the dead letter
    assert ANNA not in objects.get(TRAINING, "feedback/v1/manifest.json").decode()
    assert len(_samples(objects)) == 1
    assert enroll.handle(rt, msg) == []  # and once more: nothing left to do, no error
