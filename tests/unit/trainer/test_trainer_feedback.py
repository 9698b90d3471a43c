"""The feedback sink: latest verdict per decision, labels, skips with reasons, manifest counts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import TopicSettings
from trainer.feedback import (
    MANIFEST_SCHEMA,
    MemoryTopicSource,
    build_dataset,
    label_for,
    next_version,
    sample_name,
    summary,
    tags_of,
)

TOPICS = TopicSettings()
FRAMES, TRAINING = "frames", "training"


class World:
    """Topics and an object store in memory, and helpers that fill them with real events."""

    def __init__(self) -> None:
        self.codec = EventCodec()
        self.source = MemoryTopicSource()
        self.objects = MemoryObjectStore()

    def decision(self, student: str = "s-001", *, frame: bytes | None = b"jpeg-bytes",
                 outcome: str = "REVIEW", attributes: dict[str, str] | None = None,
                 store_frame: bool = True) -> str:
        """Publish a Decision (and its CheckIn, for the attributes); the decision id."""
        eid = events.new_event_id()
        now = events.utcnow()
        ref = None
        if frame is not None:
            key = f"review/{student}/{eid}.jpg"
            ref = events.object_ref(FRAMES, key, frame)
            if store_frame:
                self.objects.put(FRAMES, key, frame)
        record = {
            "event_id": eid, "gate_id": "g1", "exam_id": "e1", "claimed_student_id": student,
            "outcome": outcome, "reason": "UNCERTAIN_MATCH", "similarity": 0.4,
            "model_version": "1", "review_frame": ref, "captured_at": now,
            "published_at": now, "decided_at": now,
        }
        self.source.append(TOPICS.decisions, self.codec.encode("Decision", record))
        checkin = events.checkin(gate_id="g1", exam_id="e1", claimed_student_id=student,
                                 frame=events.inline_frame(b"x"),
                                 camera_meta=events.camera("c", 8, 8), event_id=eid,
                                 attributes=attributes)
        self.source.append(TOPICS.checkins, self.codec.encode("CheckIn", checkin))
        return eid

    def verdict(self, decision_id: str, verdict: str, *, reviewer: str = "pat",
                shift_s: float = 0.0) -> dict[str, Any]:
        fb = events.feedback(decision_event_id=decision_id, verdict=verdict,
                             reviewer_id=reviewer)
        fb["reviewed_at"] += timedelta(seconds=shift_s)
        self.source.append(TOPICS.feedback, self.codec.encode("Feedback", fb))
        return fb

    def build(self, **kwargs: Any):
        return build_dataset(self.source, self.objects, topics=TOPICS, bucket=TRAINING,
                             codec=self.codec, **kwargs)


@pytest.fixture
def world() -> World:
    return World()


def test_samples_labels_and_manifest_counts(world: World) -> None:
    same = world.decision("s-001", attributes={"condition": "mask", "scenario": "exam-day"})
    other = world.decision("s-002", attributes={"condition": "dim"})
    unsure = world.decision("s-003")
    world.verdict(same, "SAME_PERSON")
    world.verdict(other, "DIFFERENT_PERSON", reviewer="kim")
    world.verdict(unsure, "UNSURE")

    version, manifest = world.build()

    assert version == 1 and manifest["version"] == 1
    assert manifest["schema"] == MANIFEST_SCHEMA
    stored = json.loads(world.objects.get(TRAINING, "feedback/v1/manifest.json"))
    assert stored["samples"] == manifest["samples"]
    by_decision = {s["decision_id"]: s for s in manifest["samples"]}
    assert set(by_decision) == {same, other}
    assert by_decision[same]["identity"] == "s-001"
    assert by_decision[same]["condition"] == "mask" and by_decision[same]["scenario"] == "exam-day"
    assert by_decision[other]["identity"] == f"impostor:{other}"
    assert by_decision[other]["reviewer"] == "kim" and by_decision[other]["verdict"] == \
        "DIFFERENT_PERSON"
    for s in manifest["samples"]:
        assert s["key"] == f"samples/{s['decision_id']}.jpg"
        assert world.objects.get(TRAINING, f"feedback/v1/{s['key']}") == b"jpeg-bytes"
    c = manifest["counts"]
    assert c["feedback_events"] == 3 and c["decisions_reviewed"] == 3 and c["samples"] == 2
    assert c["by_verdict"] == {"DIFFERENT_PERSON": 1, "SAME_PERSON": 1, "UNSURE": 1}
    assert c["skipped"] == {"UNSURE": 1}
    assert c["by_label"] == {"IMPOSTOR": 1, "SAME_PERSON": 1}
    assert c["by_identity"] == {f"impostor:{other}": 1, "s-001": 1}
    assert c["by_condition"] == {"dim": {"DIFFERENT_PERSON": 1}, "mask": {"SAME_PERSON": 1}}


def test_the_latest_verdict_on_a_decision_wins(world: World) -> None:
    d = world.decision("s-001")
    world.verdict(d, "DIFFERENT_PERSON", shift_s=-5)
    world.verdict(d, "SAME_PERSON")
    world.verdict(d, "SAME_PERSON")  # a console retry of the same verdict
    _, manifest = world.build()
    (sample,) = manifest["samples"]
    assert sample["verdict"] == "SAME_PERSON" and sample["identity"] == "s-001"
    assert manifest["counts"]["feedback_events"] == 3 and manifest["counts"]["superseded"] == 2


def test_a_late_arriving_older_verdict_does_not_override(world: World) -> None:
    d = world.decision("s-001")
    world.verdict(d, "SAME_PERSON")
    world.verdict(d, "DIFFERENT_PERSON", shift_s=-60)  # published later, given earlier
    _, manifest = world.build()
    assert manifest["samples"][0]["verdict"] == "SAME_PERSON"


def test_every_skip_has_a_reason(world: World) -> None:
    world.verdict("no-such-decision", "SAME_PERSON")
    rejected = world.decision("s-001", frame=None, outcome="REJECT")
    world.verdict(rejected, "SAME_PERSON")
    expired = world.decision("s-002", store_frame=False)
    world.verdict(expired, "SAME_PERSON")
    tampered = world.decision("s-003")
    world.objects.put(FRAMES, f"review/s-003/{tampered}.jpg", b"something else")
    world.verdict(tampered, "SAME_PERSON")
    world.source.append(TOPICS.feedback, b"not an event")

    version, manifest = world.build()

    assert version is None and manifest["samples"] == []
    assert world.objects.keys(TRAINING) == []  # nothing written without a sample
    assert manifest["counts"]["skipped"] == {"DECISION_NOT_FOUND": 1, "FRAME_CORRUPT": 1,
                                             "FRAME_UNAVAILABLE": 1, "NO_REVIEW_FRAME": 1}
    assert manifest["counts"]["undecodable"] == {TOPICS.feedback: 1}
    assert "no new version" in summary(version, manifest)


def test_versions_increase_and_since_filters_old_verdicts(world: World) -> None:
    first = world.decision("s-001")
    fb = world.verdict(first, "SAME_PERSON", shift_s=-3600)
    assert world.build()[0] == 1
    second = world.decision("s-002")
    world.verdict(second, "SAME_PERSON")
    cutoff = fb["reviewed_at"] + timedelta(minutes=30)
    version, manifest = world.build(since=cutoff.replace(tzinfo=None))  # naive reads as UTC
    assert version == 2
    assert [s["decision_id"] for s in manifest["samples"]] == [second]
    assert manifest["counts"]["skipped"] == {"BEFORE_SINCE": 1}
    assert next_version(world.objects, TRAINING) == 3
    # A version left without its manifest (a crashed build) is never overwritten.
    world.objects.put(TRAINING, "feedback/v7/samples/x.jpg", b"x")
    assert next_version(world.objects, TRAINING) == 8


def test_the_manifest_reads_as_a_trainer_manifest(world: World, tmp_path) -> None:
    pytest.importorskip("torch")
    from trainer.data import read_manifest

    world.verdict(world.decision("s-001"), "SAME_PERSON")
    world.verdict(d := world.decision("s-002"), "DIFFERENT_PERSON")
    _, manifest = world.build()
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest, default=str))
    samples = read_manifest(path)
    assert {s.identity for s in samples} == {"s-001", f"impostor:{d}"}


def test_labels_tags_and_names() -> None:
    decision = {"event_id": "e1", "claimed_student_id": "s-9", "condition": None}
    assert label_for("SAME_PERSON", decision) == "s-9"
    assert label_for("DIFFERENT_PERSON", decision) == "impostor:e1"
    assert label_for("UNSURE", decision) is None
    assert tags_of(decision, {"condition": "mask"}) == {"scenario": None, "condition": "mask"}
    assert tags_of({"scenario": "a"}, {"scenario": "b"})["scenario"] == "a"
    assert sample_name("abc-123", "image/png") == "abc-123.png"
    assert "/" not in sample_name("../../etc/passwd", "image/jpeg")


class _DeleteLandsDuringTheBuild(MemoryObjectStore):
    """A store where a student's DELETE runs while a dataset build is copying frames: the
    review frames go and the erasure scans the manifests already written (not the one
    being built), just before the build writes its manifest."""

    def __init__(self, inner: MemoryObjectStore, student: str) -> None:
        super().__init__()
        self.__dict__.update(inner.__dict__)
        self.student = student

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
        if key.endswith("/manifest.json") and self.student:
            from examgate.core.erasure import erase_training_copies

            self.delete_prefix(FRAMES, f"review/{self.student}/")
            erase_training_copies(self, TRAINING, self.student)
            self.student = ""
        super().put(bucket, key, data, content_type)


def test_a_delete_during_a_build_leaves_no_copy_of_the_student(world: World) -> None:
    """Issue 12: the build re-checks its frames once its manifest is written, so a student
    deleted meanwhile is scrubbed from it too (the erasure's scan missed it)."""
    kept, gone = world.decision("s-keep"), world.decision("s-gone")
    world.verdict(kept, "SAME_PERSON")
    world.verdict(gone, "SAME_PERSON")
    world.objects = _DeleteLandsDuringTheBuild(world.objects, "s-gone")
    version, _ = world.build()
    stored = json.loads(world.objects.get(TRAINING, f"feedback/v{version}/manifest.json"))
    assert [s["identity"] for s in stored["samples"]] == ["s-keep"]
    assert not [k for k in world.objects.keys(TRAINING) if gone in k]
