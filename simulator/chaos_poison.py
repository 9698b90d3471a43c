"""The poison corpus of ``examgate bench chaos``: events a careless or hostile producer sends.

Each entry is the bytes published to the check-in topic and what must become of them:
never an ACCEPT, never a stopped worker, and never nothing: a decision (REVIEW or
REJECT, with a reason) or a dead letter that says why.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from examgate.adapters.kafka import EventPublisher, EventReader
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings
from simulator.chaos_faults import EXAM, Chaos, FaultResult, measure
from simulator.driver import Outcome, replay

PRODUCER_LIMIT = 1_000_000  # librdkafka's message.max.bytes, framing included


@dataclass(frozen=True)
class Poison:
    """One poison record: its name, its bytes and, when it decodes, its event id."""

    name: str
    value: bytes
    event_id: str | None = None  # None: it cannot be decoded, only a dead letter can answer
    expect: str = "a dead letter"  # what the operator should find, for the table
    copies: int = 1  # published this many times (a replay sends the same bytes again)
    # The student's own fresh face may rightly be ACCEPTed once (e.g. the first copy of a
    # replay); everywhere else an ACCEPT is a wrong one.
    may_accept: bool = False


def _checkin(codec: EventCodec, gate: str, exam: str, student: str, frame: dict,
             **overrides: object) -> tuple[bytes, str]:
    record = events.checkin(gate_id=gate, exam_id=exam, claimed_student_id=student,
                            frame=frame, camera_meta=events.camera("cam-chaos", 1, 1))
    record.update(overrides)
    return codec.encode("CheckIn", record), record["event_id"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's first bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def corpus(codec: EventCodec, *, gate: str, exam: str, student: str, photo: bytes,
           frames_bucket: str, enrollment_bucket: str) -> list[Poison]:
    """Every poison entry, built around one enrolled ``student`` and a true ``photo`` of them
    (so an entry that slipped past its check would be ACCEPTed: the test is not vacuous)."""
    out: list[Poison] = []
    value, _ = _checkin(codec, gate, exam, student, events.inline_frame(b""))
    pad = PRODUCER_LIMIT - 100 - len(value) - 3  # the frame's length prefix grows to 3 bytes
    big, _ = _checkin(codec, gate, exam, student, events.inline_frame(b"\xff" * pad))
    out.append(Poison("oversized, undecodable (1 MB + a trailing byte)", big + b"\x00"))
    good, _ = _checkin(codec, gate, exam, student, events.inline_frame(photo))
    out.append(Poison("truncated event", good[: len(good) // 2]))
    out.append(Poison("random bytes", bytes(range(256)) * 2))
    enrollment = events.enrollment(student_id=student, action="DELETE", images=[],
                                   requested_by="chaos")
    out.append(Poison("wrong schema (an Enrollment on the check-in topic)",
                      codec.encode("Enrollment", enrollment)))
    decided = "a REVIEW or REJECT"
    for name, frame in (
        ("reference into the enrollment bucket",
         events.object_ref(enrollment_bucket, f"students/{student}/photo.bin", photo)),
        ("reference to another gate's upload",
         events.object_ref(frames_bucket, f"incoming/other-gate/{student}", photo)),
        ("reference to a 10 GB object",
         dict(events.object_ref(frames_bucket, f"incoming/{gate}/huge", b""),
              size_bytes=10 * 1024**3)),
        ("not an image", events.inline_frame(b"this is not a JPEG")),
        ("PNG header claiming 60000 x 60000 px",
         events.inline_frame(_png_header(60_000, 60_000), "image/png")),
    ):
        value, eid = _checkin(codec, gate, exam, student, frame)
        out.append(Poison(name, value, eid, decided))
    value, eid = _checkin(codec, gate, exam, student, events.inline_frame(photo[: len(photo) // 3]))
    out.append(Poison("the student's photo, cut after a third of its bytes", value, eid,
                      "a decision", may_accept=True))
    stale = datetime.now(UTC) - timedelta(hours=1)
    value, eid = _checkin(codec, gate, exam, student, events.inline_frame(photo),
                          captured_at=stale)
    out.append(Poison("the student's true photo, captured an hour ago", value, eid,
                      "REVIEW INVALID_EVENT"))
    value, eid = _checkin(codec, "intruder-gate", exam, student, events.inline_frame(photo))
    out.append(Poison("the student's true photo from a gate not of this exam", value, eid,
                      "REVIEW INVALID_EVENT"))
    value, eid = _checkin(codec, gate, exam, student, events.inline_frame(photo))
    out.append(Poison("the same check-in published twice", value, eid,
                      "one decision and one dead letter DUPLICATE_EVENT", copies=2,
                      may_accept=True))
    return out


def _dead_letters(settings: Settings, wanted: set[str], since: float,
                  timeout: float = 60) -> dict[str, list[dict]]:
    """The check-in topic's dead letters since ``since`` (epoch s) whose payload has one of
    the ``wanted`` checksums, by checksum."""
    topic = settings.kafka.topics.checkins + settings.kafka.topics.dlq_suffix
    reader = EventReader(settings.kafka, EventCodec(), [topic])
    found: dict[str, list[dict]] = {}
    try:
        for item, _ in reader.events(timeout=timeout, idle_timeout=10):
            if isinstance(item, Exception):
                continue
            letter = item.record
            if (letter.get("payload_sha256") in wanted
                    and letter["failed_at"].timestamp() >= since):
                found.setdefault(letter["payload_sha256"], []).append(letter)
    finally:
        reader.close()
    return found


def _became(entry: Poison, decision: dict | None, letters: list[dict]) -> tuple[str, bool, bool]:
    """(what became of the entry, whether it was answered, whether an ACCEPT was wrong)."""
    said = []
    if decision is not None:
        said.append(f"{decision['outcome']} {decision['reason']}")
    said += [f"dead letter {d['reason_code']} at {d['stage']}" for d in letters]
    answered = bool(said) and (entry.copies == 1 or (decision is not None
                                                      and len(letters) >= entry.copies - 1))
    wrong = (decision is not None and decision["outcome"] == "ACCEPT"
             and not entry.may_accept)
    return "; ".join(said) or "NOTHING (lost)", answered, wrong


def run_poison(chaos: Chaos, offset: int = 0) -> FaultResult:
    """Normal load with the whole corpus sent a few seconds in: every entry must be answered
    (decision or dead letter), none wrongly ACCEPTed, and no worker may stop."""
    s = chaos.settings
    codec = EventCodec()
    student, _, photo = chaos.cohort[offset % len(chaos.cohort)]
    entries = corpus(codec, gate="chaos-1", exam=EXAM, student=student, photo=photo,
                     frames_bucket=s.object_store.bucket_frames,
                     enrollment_bucket=s.object_store.bucket_enrollment)
    dup0, restarts0 = chaos.collector.duplicates, chaos.workers.restarts
    outcomes: list[Outcome] = []
    sender = threading.Thread(target=lambda: outcomes.extend(replay(
        s, chaos.probes(offset), EXAM, chaos.collector, timeout=chaos.timeout_s,
        progress_bar=False)), name="load-poison")
    sender.start()
    time.sleep(chaos.fault_at_s)
    began = time.time()
    publisher = EventPublisher(s.kafka, codec, client_id="chaos-poison")
    for entry in entries:
        for _ in range(entry.copies):
            publisher.publish_raw(s.kafka.topics.checkins, "chaos-1", entry.value,
                                  entry.event_id or "?")
    report = publisher.flush()
    if report.failed:
        raise RuntimeError(f"the broker refused poison records: {report.failed[:3]}")
    ended = time.time()
    sender.join()
    chaos.collector.wait_for([e.event_id for e in entries if e.event_id], 60)
    letters = _dead_letters(s, {hashlib.sha256(e.value).hexdigest() for e in entries},
                            since=began - 1)
    time.sleep(3)  # a late duplicate would arrive about now
    result = measure(chaos, "poison", outcomes, ended, ended - began, dup0, restarts0)
    for entry in entries:
        got = chaos.collector.decisions.get(entry.event_id or "")
        became, answered, wrong = _became(
            entry, got[0] if got else None,
            letters.get(hashlib.sha256(entry.value).hexdigest(), []))
        result.checkins += entry.copies
        result.lost += 0 if answered else 1
        result.wrong_accept += int(wrong)
        result.poison.append({"entry": entry.name, "expected": entry.expect,
                              "became": became, "answered": answered, "wrong_accept": wrong})
    return result
