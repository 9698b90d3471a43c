"""The feedback sink: reviewers' verdicts joined with their decisions and frames, written as a
versioned training set in the object store.

A batch job rather than a standing consumer: each run reads the feedback,
decision and check-in topics from the beginning to their current end
(``read_committed``), keeps the latest verdict per decision, and writes

    <training bucket>/feedback/v{N}/samples/<decision id>.jpg
    <training bucket>/feedback/v{N}/manifest.json

SAME_PERSON labels the frame with the claimed student id; DIFFERENT_PERSON with
``impostor:<decision id>`` (a face that is nobody enrolled); UNSURE is counted
and skipped, and so is every verdict that cannot become a sample, each with its
reason. The manifest is written last, so a version without one is incomplete.
Sample keys in the manifest are relative to the version folder, which is what
``trainer.data.read_manifest`` expects of a local mirror.
"""

from __future__ import annotations

import abc
import argparse
import hashlib
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from examgate.core.codec import CodecError, EventCodec
from examgate.core.erasure import (  # one layout, core's
    DATASET_PREFIX,
    MANIFEST,
    UNKNOWN,
    erase_training_copies,
)
from examgate.core.ports import ObjectStore, ObjectStoreError
from examgate.core.settings import KafkaSettings, Settings, TopicSettings

log = logging.getLogger("examgate.feedback_sink")
STAGE = "feedback_sink"
MANIFEST_SCHEMA = "examgate.training-manifest/1"  # read by trainer.data.read_manifest
TAG_KEYS = ("scenario", "condition")
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Record = dict[str, Any]



def checked_key(key: str) -> str:
    """``key`` if it names a file inside the manifest's folder, else ValueError."""
    if not key or key.startswith("/") or ".." in PurePosixPath(key).parts:
        raise ValueError(f"key {key!r} leaves the folder")
    return key

class TopicSource(abc.ABC):
    """Port: every committed record value of a topic, from its beginning to its current end."""

    @abc.abstractmethod
    def read(self, topic: str) -> Iterator[bytes]:
        """Values of ``topic`` in log order per partition; ends at the end seen when called."""

    def positions(self) -> dict[str, dict[str, int]]:
        """Topic -> partition -> offset where reading stopped (empty when not tracked)."""
        return {}


class MemoryTopicSource(TopicSource):
    """Topics as in-memory lists of encoded values (unit tests)."""

    def __init__(self, topics: Mapping[str, Iterable[bytes]] | None = None) -> None:
        self.topics: dict[str, list[bytes]] = {k: list(v) for k, v in (topics or {}).items()}

    def append(self, topic: str, value: bytes) -> None:
        """Add a value at the end of ``topic``."""
        self.topics.setdefault(topic, []).append(value)

    def read(self, topic: str) -> Iterator[bytes]:
        yield from list(self.topics.get(topic, []))

    def positions(self) -> dict[str, dict[str, int]]:
        return {t: {"0": len(v)} for t, v in self.topics.items()}


class KafkaTopicSource(TopicSource):
    """Reads whole topics with a throw-away consumer: assigned partitions, no group commits."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 600.0) -> None:
        self.kafka = kafka
        self.timeout_s = timeout_s
        self._ends: dict[str, dict[str, int]] = {}

    def read(self, topic: str) -> Iterator[bytes]:
        from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

        from examgate.adapters.kafka import KafkaClients, private_group

        consumer = KafkaClients(self.kafka).consumer(
            group_id=private_group(STAGE), offsets="earliest", isolation="read_committed",
            extra={"enable.partition.eof": True})  # to know where each partition ends
        try:
            meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
            if meta is None or meta.error is not None:
                log.warning("%s: topic %s is not readable (%s); read as empty", STAGE, topic,
                            meta.error if meta else "missing")
                return
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
            # With read_committed, end-of-partition means the last stable offset: an open
            # transaction's records are not there yet, and are not waited for.
            pending, ends = set(meta.partitions), dict[str, int]()
            deadline = time.monotonic() + self.timeout_s
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{STAGE}: {topic} partitions {sorted(pending)} did not "
                                       f"reach their end in {self.timeout_s:.0f} s")
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                error, part, value = msg.error(), msg.partition(), msg.value()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF and part is not None:
                        pending.discard(part)
                        ends[str(part)] = int(msg.offset() or 0)
                        continue
                    raise RuntimeError(f"{STAGE}: reading {topic}: {error}")
                if part in pending and value is not None:
                    yield value
            self._ends[topic] = ends
        finally:
            consumer.close()

    def positions(self) -> dict[str, dict[str, int]]:
        return {t: dict(v) for t, v in self._ends.items()}


@dataclass
class Counts:
    """What a build saw and what it did with it."""

    feedback_events: int = 0
    superseded: int = 0  # an earlier verdict on a decision that was reviewed again
    undecodable: Counter = field(default_factory=Counter)  # topic -> records
    by_verdict: Counter = field(default_factory=Counter)  # latest verdicts, UNSURE included
    skipped: Counter = field(default_factory=Counter)  # reason -> verdicts not turned into samples
    by_label: Counter = field(default_factory=Counter)  # SAME_PERSON -> identity, else impostor
    by_identity: Counter = field(default_factory=Counter)
    by_condition: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def as_record(self) -> dict[str, Any]:
        """JSON-ready counts, sorted for stable manifests."""
        return {
            "feedback_events": self.feedback_events, "superseded": self.superseded,
            "decisions_reviewed": sum(self.by_verdict.values()),
            "samples": sum(self.by_label.values()),
            "undecodable": dict(sorted(self.undecodable.items())),
            "by_verdict": dict(sorted(self.by_verdict.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "by_label": dict(sorted(self.by_label.items())),
            "by_identity": dict(sorted(self.by_identity.items())),
            "by_condition": {c: dict(sorted(v.items()))
                             for c, v in sorted(self.by_condition.items())},
        }


def _decoded(codec: EventCodec, values: Iterable[bytes], name: str, topic: str,
             counts: Counts) -> Iterator[Record]:
    for value in values:
        try:
            yield codec.decode(value, expected=name).record
        except CodecError as exc:
            counts.undecodable[topic] += 1
            log.warning("%s: skipped a record on %s: %s", STAGE, topic, exc)


def latest_verdicts(feedback: Iterable[Record], counts: Counts) -> dict[str, Record]:
    """Decision id -> its latest Feedback (by ``reviewed_at``, then by log order)."""
    latest: dict[str, tuple[datetime, int, Record]] = {}
    for order, fb in enumerate(feedback):
        counts.feedback_events += 1
        key = (fb["reviewed_at"], order)
        seen = latest.get(fb["decision_event_id"])
        if seen is not None:
            counts.superseded += 1
            if key < seen[:2]:
                continue
        latest[fb["decision_event_id"]] = (*key, fb)
    return {d: entry[2] for d, entry in latest.items()}


def label_for(verdict: str, decision: Record) -> str | None:
    """The training identity a verdict gives the frame; None for UNSURE."""
    if verdict == "SAME_PERSON":
        return str(decision["claimed_student_id"])
    if verdict == "DIFFERENT_PERSON":
        return f"impostor:{decision['event_id']}"
    return None


def tags_of(decision: Record, attributes: Mapping[str, str] | None) -> dict[str, str | None]:
    """Scenario and condition from the decision, else its check-in's attributes."""
    sources = [decision, decision.get("attributes") or {}, attributes or {}]
    return {k: next((str(s[k]) for s in sources if s.get(k)), None) for k in TAG_KEYS}


def sample_name(decision_id: str, content_type: str) -> str:
    """A safe object name for a decision's frame (hashed when the id is not a plain token)."""
    stem = decision_id if _SAFE_ID.match(decision_id) else hashlib.sha256(
        decision_id.encode()).hexdigest()[:32]
    return stem + _EXTENSIONS.get(content_type, ".jpg")


def next_version(objects: ObjectStore, bucket: str, prefix: str = DATASET_PREFIX) -> int:
    """One more than the highest version under ``prefix`` (complete or not)."""
    pattern = re.compile(rf"^{re.escape(prefix)}/v(\d+)/")
    found = [int(m.group(1)) for k in objects.keys(bucket, f"{prefix}/v")
             if (m := pattern.match(k))]
    return max(found, default=0) + 1


def build_dataset(source: TopicSource, objects: ObjectStore, *, topics: TopicSettings,
                  bucket: str, codec: EventCodec | None = None, since: datetime | None = None,
                  with_checkins: bool = True, prefix: str = DATASET_PREFIX,
                  now: datetime | None = None) -> tuple[int | None, Record]:
    """Join the topics and write a new dataset version; (version, manifest).

    The version is None, and nothing is written, when no verdict became a sample.
    """
    codec = codec or EventCodec()
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # event times are UTC
    counts = Counts()
    verdicts = latest_verdicts(_decoded(codec, source.read(topics.feedback), "Feedback",
                                        topics.feedback, counts), counts)
    if since is not None:
        early = [d for d, fb in verdicts.items() if fb["reviewed_at"] < since]
        counts.skipped["BEFORE_SINCE"] += len(early)
        for d in early:
            del verdicts[d]
    decisions = {d["event_id"]: d for d in _decoded(codec, source.read(topics.decisions),
                                                    "Decision", topics.decisions, counts)
                 if d["event_id"] in verdicts}
    attributes: dict[str, dict[str, str]] = {}
    if with_checkins and verdicts:
        attributes = {c["event_id"]: dict(c.get("attributes") or {})
                      for c in _decoded(codec, source.read(topics.checkins), "CheckIn",
                                        topics.checkins, counts)
                      if c["event_id"] in verdicts}
    version = next_version(objects, bucket, prefix)
    folder = f"{prefix}/v{version}"
    samples = []
    for decision_id in sorted(verdicts):
        fb = verdicts[decision_id]
        counts.by_verdict[fb["verdict"]] += 1
        decision = decisions.get(decision_id)
        sample = None
        if decision is None:
            counts.skipped["DECISION_NOT_FOUND"] += 1
        else:
            sample = _write_sample(objects, bucket, folder, fb, decision,
                                   attributes.get(decision_id), counts)
        if sample is not None:
            samples.append(sample)
    manifest = {
        "schema": MANIFEST_SCHEMA, "dataset": prefix, "version": version if samples else None,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "since": since.isoformat() if since else None,
        "source": {"feedback": topics.feedback, "decisions": topics.decisions,
                   "checkins": topics.checkins if with_checkins else None, "bucket": bucket,
                   "end_offsets": source.positions()},
        "counts": counts.as_record(), "samples": samples,
    }
    if not samples:
        log.info("%s: no sample among %d reviewed decisions; nothing written (%s)", STAGE,
                 len(verdicts), dict(counts.skipped))
        return None, manifest
    objects.put(bucket, f"{folder}/{MANIFEST}",
                json.dumps(manifest, indent=1, default=str).encode(), "application/json")
    # A student DELETEd while this version was being built: the erasure scanned only the
    # manifests written before this one, but it deleted the student's review frames first,
    # so a frame gone now (after this manifest exists) names a student to erase here too.
    erased = sorted({sample["claimed_student_id"] for sample in samples
                     if not _still_stored(objects, decisions[sample["decision_id"]])})
    for student in erased:
        erase_training_copies(objects, bucket, student)
        log.warning("%s: %s was deleted while %s was being built; erased from it", STAGE,
                    student, folder)
    if erased:
        manifest = json.loads(objects.get(bucket, f"{folder}/{MANIFEST}"))
    log.info("%s: wrote %s/%s: %d samples (%s), skipped %s", STAGE, bucket, folder,
             len(samples), dict(counts.by_verdict), dict(counts.skipped))
    return version, manifest


def _still_stored(objects: ObjectStore, decision: Record) -> bool:
    ref = decision["review_frame"]
    return ref["key"] in objects.keys(ref["bucket"], ref["key"])


def _write_sample(objects: ObjectStore, bucket: str, folder: str, fb: Record, decision: Record,
                  attributes: Mapping[str, str] | None, counts: Counts) -> Record | None:
    identity = label_for(fb["verdict"], decision)
    if identity is None:
        counts.skipped[fb["verdict"]] += 1
        return None
    ref = decision.get("review_frame")
    if ref is None:
        counts.skipped["NO_REVIEW_FRAME"] += 1
        return None
    try:
        frame = objects.get(ref["bucket"], ref["key"])
    except ObjectStoreError as exc:  # review frames expire after their retention period
        counts.skipped["FRAME_UNAVAILABLE"] += 1
        log.warning("%s: frame of decision %s unavailable: %s", STAGE, decision["event_id"], exc)
        return None
    if hashlib.sha256(frame).hexdigest() != ref["sha256"]:
        counts.skipped["FRAME_CORRUPT"] += 1
        return None
    content_type = ref.get("content_type") or "image/jpeg"
    name = f"samples/{sample_name(decision['event_id'], content_type)}"
    objects.put(bucket, f"{folder}/{name}", frame, content_type)
    tags = tags_of(decision, attributes)
    label = "SAME_PERSON" if fb["verdict"] == "SAME_PERSON" else "IMPOSTOR"
    counts.by_label[label] += 1
    counts.by_identity[identity] += 1
    counts.by_condition[tags["condition"] or UNKNOWN][fb["verdict"]] += 1
    return {
        "key": name, "object_key": f"{folder}/{name}", "identity": identity,
        "verdict": fb["verdict"], "reviewer": fb["reviewer_id"],
        "reviewed_at": fb["reviewed_at"].isoformat(), "feedback_id": fb["event_id"],
        "decision_id": decision["event_id"], "claimed_student_id": decision["claimed_student_id"],
        "outcome": decision["outcome"], "reason": decision["reason"],
        "similarity": decision.get("similarity"), "model_version": decision.get("model_version"),
        "exam_id": decision["exam_id"], "gate_id": decision["gate_id"], **tags,
        "sha256": ref["sha256"], "content_type": content_type,
    }


def build_feedback_dataset(settings: Settings, since: datetime | None = None
                           ) -> tuple[int | None, Record]:
    """Build a new feedback dataset version from the real topics and object store."""
    from examgate.adapters import factory as ports

    return build_dataset(KafkaTopicSource(settings.kafka), ports.object_store(settings),
                         topics=settings.kafka.topics,
                         bucket=settings.object_store.bucket_training, since=since)


def summary(version: int | None, manifest: Record) -> str:
    """One line for a terminal."""
    c = manifest["counts"]
    where = f"version {version}" if version is not None else "no new version"
    return (f"feedback dataset: {where}; {c['samples']} samples from {c['decisions_reviewed']} "
            f"reviewed decisions ({c['feedback_events']} verdicts, {c['superseded']} superseded); "
            f"labels {c['by_label']}; skipped {c['skipped']}; conditions "
            f"{ {k: sum(v.values()) for k, v in c['by_condition'].items()} }")


def main(argv: list[str] | None = None) -> int:
    """Build a feedback dataset version: ``python -m trainer.feedback``."""
    from examgate.core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m trainer.feedback",
                                     description=main.__doc__)
    parser.add_argument("--since", type=datetime.fromisoformat, default=None,
                        help="only verdicts given at or after this ISO time (UTC if naive)")
    parser.add_argument("--config", default=None, help="settings file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    version, manifest = build_feedback_dataset(load_settings(args.config), args.since)
    print(summary(version, manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
