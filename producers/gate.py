"""The gate producer: pairs each captured frame with the claimed student id and publishes CheckIns.

Frames above the inline limit go to the object store and travel by reference.
Events are keyed by gate, so one gate's check-ins stay in order on one partition.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from examgate.adapters.kafka import DeliveryReport, EventPublisher
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.ports import ObjectStore
from examgate.core.settings import Settings
from examgate.core.verify import GATE_UPLOADS
from producers.frames import Frame

log = logging.getLogger("examgate.gate")


@dataclass(frozen=True)
class GateConfig:
    """Who this gate is."""

    gate_id: str
    exam_id: str
    camera_id: str
    inline_max_bytes: int


def claims_from_filenames(frames: Iterator[Frame]) -> Iterator[tuple[str, Frame]]:
    """The student id is the file name up to ``__`` (``s123__front.jpg`` -> ``s123``)."""
    for frame in frames:
        yield Path(frame.source_name).stem.split("__", 1)[0], frame


def claims_from_roster(frames: Iterator[Frame], roster: Path) -> Iterator[tuple[str, Frame]]:
    """The student id from a CSV with columns ``file,student_id``; unknown files are skipped."""
    with open(roster, newline="") as f:
        table = {row["file"]: row["student_id"] for row in csv.DictReader(f)}
    for frame in frames:
        sid = table.get(frame.source_name)
        if sid is None:
            log.warning("gate: %s is not in the roster %s; skipped", frame.source_name, roster)
            continue
        yield sid, frame


def claims_from_card_reader(frames: Iterator[Frame],
                            reader: TextIO = sys.stdin) -> Iterator[tuple[str, Frame]]:
    """Each line from the ID-card reader takes the next frame (the student is at the camera)."""
    for line in reader:
        sid = line.strip()
        if not sid:
            continue
        frame = next(frames, None)
        if frame is None:
            log.error("gate: card %s read but the camera gave no frame", sid)
            return
        yield sid, frame


class GateProducer:
    """Builds and publishes CheckIn events for one gate."""

    def __init__(self, settings: Settings, config: GateConfig, publisher: EventPublisher,
                 objects: ObjectStore) -> None:
        self.settings = settings
        self.config = config
        self.publisher = publisher
        self.objects = objects

    def frame_field(self, event_id: str, frame: Frame) -> dict:
        """Inline up to the limit, else stored and referenced."""
        if len(frame.data) <= self.config.inline_max_bytes:
            return events.inline_frame(frame.data, frame.content_type)
        bucket = self.settings.object_store.bucket_frames
        key = f"{GATE_UPLOADS}/{self.config.gate_id}/{event_id}"
        self.objects.put(bucket, key, frame.data, frame.content_type)
        return events.object_ref(bucket, key, frame.data, frame.content_type)

    def send(self, student_id: str, frame: Frame, source: str = "camera",
             attributes: dict[str, str] | None = None) -> str:
        """Publish one check-in; returns its event id."""
        event_id = events.new_event_id()
        record = events.checkin(
            event_id=event_id, gate_id=self.config.gate_id, exam_id=self.config.exam_id,
            claimed_student_id=student_id, frame=self.frame_field(event_id, frame),
            camera_meta=events.camera(self.config.camera_id, frame.width, frame.height,
                                      source=source),
            attributes=attributes)
        self.publisher.publish(self.settings.kafka.topics.checkins, self.config.gate_id,
                               "CheckIn", record)
        log.info("gate %s: check-in %s for %s (%s, %d bytes)", self.config.gate_id, event_id,
                 student_id, frame.source_name, len(frame.data))
        return event_id

    def run(self, claims: Iterator[tuple[str, Frame]], source: str) -> DeliveryReport:
        """Publish every claim, then wait for all acknowledgements."""
        for student_id, frame in claims:
            self.send(student_id, frame, source)
        return self.publisher.flush()


def make_gate(settings: Settings, gate_id: str, exam_id: str, camera_id: str | None = None,
              inline_max_bytes: int = 256 * 1024) -> GateProducer:
    """A gate producer connected to the configured Kafka and object store."""
    from examgate.adapters.objectstore import S3ObjectStore

    publisher = EventPublisher(settings.kafka, EventCodec(), client_id=f"gate-{gate_id}")
    return GateProducer(settings, GateConfig(gate_id, exam_id, camera_id or gate_id,
                                             inline_max_bytes),
                        publisher, S3ObjectStore.from_settings(settings.object_store))
