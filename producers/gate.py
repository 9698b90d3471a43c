"""The gate producer: pairs each capture with the claimed student id and publishes CheckIns.

A capture is the primary frame plus the burst taken right after it; the burst travels
in the same CheckIn as ``extra_frames`` for the liveness checks. A check-in carries at
most the inline limit of frame bytes inside the event (the primary first, so the Kafka
message stays under the broker's limit); the other frames go to the object store under
``incoming/<gate>/<event id>[-<k>]`` and travel by reference. Events are keyed by gate,
so one gate's check-ins stay in order on one partition.
"""

from __future__ import annotations

import csv
import fnmatch
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from examgate.adapters.kafka import DeliveryReport, EventPublisher
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.ports import ObjectStore, ObjectStoreError
from examgate.core.settings import Settings
from examgate.core.signing import ModelSigner
from examgate.core.verify import GATE_UPLOADS
from producers.frames import IMAGE_SUFFIXES, Capture, Frame

log = logging.getLogger("examgate.gate")


@dataclass(frozen=True)
class GateConfig:
    """Who this gate is."""

    gate_id: str
    exam_id: str
    camera_id: str
    inline_max_bytes: int  # frame bytes one check-in carries inline at most
    burst: int = 0  # extra frames each check-in aims to carry; 0: a single-frame gate


class Named(Protocol):
    """Anything a claim can be made for: a capture, or a single frame."""

    @property
    def source_name(self) -> str: ...


C = TypeVar("C", bound=Named)


def as_capture(shot: Capture | Frame) -> Capture:
    """A single frame is a capture without a burst."""
    return shot if isinstance(shot, Capture) else Capture(shot)


def claims_from_filenames(frames: Iterable[C]) -> Iterator[tuple[str, C]]:
    """The student id is the file (or burst folder) name up to ``__`` (``s123__front.jpg``
    or ``s123__front/`` -> ``s123``)."""
    for frame in frames:
        name = Path(frame.source_name)
        stem = name.stem if name.suffix.lower() in IMAGE_SUFFIXES else name.name
        yield stem.split("__", 1)[0], frame


def claims_from_roster(frames: Iterable[C], roster: Path) -> Iterator[tuple[str, C]]:
    """The student id from a CSV with columns ``file,student_id`` (``file``: an image or a burst
    folder name); unknown files are skipped."""
    with open(roster, newline="") as f:
        table = {row["file"]: row["student_id"] for row in csv.DictReader(f)}
    for frame in frames:
        sid = table.get(frame.source_name)
        if sid is None:
            log.warning("gate: %s is not in the roster %s; skipped", frame.source_name, roster)
            continue
        yield sid, frame


def claims_from_card_reader(frames: Iterator[C],
                            reader: TextIO = sys.stdin) -> Iterator[tuple[str, C]]:
    """Each line from the ID-card reader takes the next capture (the student is at the camera):
    a camera takes the frame and its burst only then."""
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

    def upload_key(self, event_id: str, k: int = 0) -> str:
        """Where frame ``k`` of a check-in is stored: 0 the primary, 1.. its burst frames
        (``incoming/<gate>/<event id>-<k>``, the form the verifier accepts as this gate's)."""
        name = f"{event_id}-{k}" if k else event_id
        return f"{GATE_UPLOADS}/{self.config.gate_id}/{name}"

    def frame_field(self, event_id: str, frame: Frame, k: int = 0,
                    inline_room: int | None = None) -> dict[str, Any]:
        """Inline if it fits in ``inline_room`` bytes (default: the inline limit), else stored
        and referenced."""
        room = self.config.inline_max_bytes if inline_room is None else inline_room
        if len(frame.data) <= room:
            return events.inline_frame(frame.data, frame.content_type)
        bucket = self.settings.object_store.bucket_frames
        key = self.upload_key(event_id, k)
        self.objects.put(bucket, key, frame.data, frame.content_type)
        return events.object_ref(bucket, key, frame.data, frame.content_type)

    def frame_fields(self, event_id: str, capture: Capture
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The ``frame`` and ``extra_frames`` fields, sharing one inline budget, primary first.

        A burst frame the object store refuses is left out (logged): the verifier then
        judges liveness on less evidence, which can hold a check-in for review but never
        pass it. The primary frame's upload failing stops the check-in.
        """
        room = self.config.inline_max_bytes
        primary = self.frame_field(event_id, capture.primary, 0, room)
        if "data" in primary:
            room -= len(capture.primary.data)
        extra = []
        for k, frame in enumerate(capture.burst, start=1):
            try:
                field = self.frame_field(event_id, frame, k, room)
            except ObjectStoreError as exc:
                log.warning("gate %s: burst frame %d of %s not stored, left out: %s",
                            self.config.gate_id, k, event_id, exc)
                continue
            if "data" in field:
                room -= len(frame.data)
            extra.append(field)
        return primary, extra

    def send(self, student_id: str, shot: Capture | Frame, source: str = "camera",
             attributes: dict[str, str] | None = None) -> str:
        """Publish one check-in (a capture, or a lone frame); returns its event id."""
        capture = as_capture(shot)
        primary = capture.primary
        event_id = events.new_event_id()
        frame, extra = self.frame_fields(event_id, capture)
        record = events.checkin(
            event_id=event_id, gate_id=self.config.gate_id, exam_id=self.config.exam_id,
            claimed_student_id=student_id, frame=frame, extra_frames=extra,
            camera_meta=events.camera(self.config.camera_id, primary.width, primary.height,
                                      source=source),
            attributes=attributes)
        self.publisher.publish(self.settings.kafka.topics.checkins, self.config.gate_id,
                               "CheckIn", record)
        log.info("gate %s: check-in %s for %s (%s, %d bytes, %d burst frame(s))",
                 self.config.gate_id, event_id, student_id, capture.source_name,
                 len(primary.data), len(extra))
        return event_id

    def announce(self) -> None:
        """Say once, at start-up, whether this gate sends bursts or single frames."""
        gate = self.config.gate_id
        if self.config.burst:
            log.info("gate %s: each check-in sends its frame and a burst of %d more for the "
                     "liveness checks", gate, self.config.burst)
            return
        listed = any(fnmatch.fnmatchcase(gate, p)
                     for p in self.settings.checkin.single_frame_gates)
        log.warning("gate %s: single-frame gate (no burst): liveness rests on the single-frame "
                    "detector alone%s", gate,
                    "" if listed else "; unless the verifier's checkin.single_frame_gates names "
                    "this gate, its check-ins go to review (LIVENESS_UNCERTAIN)")

    def run(self, claims: Iterable[tuple[str, Capture | Frame]], source: str) -> DeliveryReport:
        """Publish every claim, then wait for all acknowledgements."""
        self.announce()
        short = False
        for student_id, shot in claims:
            capture = as_capture(shot)
            if not short and len(capture.burst) < self.config.burst:
                short = True
                log.warning("gate %s: %s has %d of the %d burst frames asked for (reported "
                            "once); liveness judges it on what there is", self.config.gate_id,
                            capture.source_name, len(capture.burst), self.config.burst)
            self.send(student_id, capture, source)
        return self.publisher.flush()


def make_gate(settings: Settings, gate_id: str, exam_id: str, camera_id: str | None = None,
              inline_max_bytes: int = 256 * 1024, burst: int = 0) -> GateProducer:
    """A gate producer connected to the configured Kafka and object store."""
    from examgate.adapters.objectstore import S3ObjectStore

    key = settings.checkin.gate_signing_key
    publisher = EventPublisher(settings.kafka, EventCodec(), client_id=f"gate-{gate_id}",
                               signer=ModelSigner.from_base64(key.get_secret_value())
                               if key is not None else None)
    return GateProducer(settings, GateConfig(gate_id, exam_id, camera_id or gate_id,
                                             inline_max_bytes, burst),
                        publisher, S3ObjectStore.from_settings(settings.object_store))
