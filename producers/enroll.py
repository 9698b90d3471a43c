"""The enrollment producer: a registrar's roster and photos become Enrollment events.

Photos are checked with the champion model before they are sent, so the
registrar learns at once which photo has no usable face and why.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

from examgate.adapters.kafka import DeliveryReport, EventPublisher
from examgate.core import events
from examgate.core.enrollment import check_photo
from examgate.core.settings import Settings
from examgate.core.verify import FaceAnalyzer

log = logging.getLogger("examgate.enroll")


@dataclass(frozen=True)
class RosterEntry:
    """One student and their reference photos."""

    student_id: str
    photos: tuple[Path, ...]


@dataclass
class EnrollSummary:
    """What was sent and what was refused, with reasons."""

    sent: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (student id, why)
    delivery: DeliveryReport | None = None


def read_roster(roster: Path, photos_dir: Path) -> list[RosterEntry]:
    """CSV with ``student_id`` and ``photos`` (file names under ``photos_dir``, ``;``-separated)."""
    out = []
    with open(roster, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"student_id", "photos"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{roster}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            sid = (row["student_id"] or "").strip()
            if not sid:
                raise ValueError(f"{roster}:{line}: empty student_id")
            names = [n.strip() for n in (row["photos"] or "").split(";") if n.strip()]
            out.append(RosterEntry(sid, tuple(photos_dir / n for n in names)))
    return out


class EnrollmentProducer:
    """Publishes ADD, REPLACE and DELETE requests."""

    def __init__(self, settings: Settings, publisher: EventPublisher,
                 analyzer: FaceAnalyzer | None) -> None:
        self.settings = settings
        self.publisher = publisher
        self.analyzer = analyzer

    def send(self, student_id: str, action: str, photos: list[bytes] | None = None,
             requested_by: str = "registrar") -> str:
        """Publish one request (photos inline); returns its event id."""
        record = events.enrollment(student_id=student_id, action=action,
                                   images=[events.inline_frame(p) for p in photos or []],
                                   requested_by=requested_by)
        self.publisher.publish(self.settings.kafka.topics.enrollments, student_id,
                               "Enrollment", record)
        return record["event_id"]

    def enroll(self, entry: RosterEntry, action: str, summary: EnrollSummary) -> None:
        """Check the entry's photos and send the usable ones."""
        usable, problems = [], []
        for path in entry.photos:
            try:
                data = path.read_bytes()
            except OSError as exc:
                problems.append(f"{path.name}: {exc.strerror or exc}")
                continue
            why = check_photo(self.analyzer, data)
            if why:
                problems.append(f"{path.name}: {why}")
            else:
                usable.append(data)
        if not usable:
            summary.refused.append((entry.student_id, "; ".join(problems) or "no photos"))
            return
        if problems:
            log.warning("enroll: %s: skipped %s", entry.student_id, "; ".join(problems))
        self.send(entry.student_id, action, usable)
        summary.sent.append(entry.student_id)
