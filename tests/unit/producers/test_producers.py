"""Gate and enrollment producers with in-memory ports: claims, frame placement, roster parsing."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from examgate.adapters.kafka import DeliveryReport
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core.codec import EventCodec
from examgate.core.matching import Analysis
from examgate.core.settings import Settings
from producers.enroll import EnrollmentProducer, EnrollSummary, RosterEntry, read_roster
from producers.frames import Frame, folder_frames
from producers.gate import (
    GateConfig,
    GateProducer,
    claims_from_card_reader,
    claims_from_filenames,
    claims_from_roster,
)


class FakePublisher:
    """Records what would be published, validating it against the schemas."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, dict]] = []
        self.codec = EventCodec()

    def publish(self, topic: str, key: str, name: str, record: dict) -> None:
        self.codec.encode(name, record)
        self.sent.append((topic, key, name, record))

    def flush(self) -> DeliveryReport:
        return DeliveryReport(delivered=len(self.sent))


def _jpeg(side: int = 64) -> bytes:
    return cv2.imencode(".jpg", np.full((side, side, 3), 100, np.uint8))[1].tobytes()


def _frames(names: list[str]) -> list[Frame]:
    return [Frame(_jpeg(), "image/jpeg", 64, 64, n) for n in names]


def test_claims_from_filenames_and_roster(tmp_path: Path) -> None:
    got = [sid for sid, _ in claims_from_filenames(iter(_frames(["s1__a.jpg", "s2.jpg"])))]
    assert got == ["s1", "s2"]
    roster = tmp_path / "r.csv"
    roster.write_text("file,student_id\nx.jpg,s9\n")
    got = [sid for sid, _ in claims_from_roster(iter(_frames(["x.jpg", "unknown.jpg"])), roster)]
    assert got == ["s9"]


def test_card_reader_takes_next_frame_per_line() -> None:
    claims = list(claims_from_card_reader(iter(_frames(["f1", "f2"])),
                                          io.StringIO("s1\n\ns2\ns3\n")))
    assert [(sid, f.source_name) for sid, f in claims] == [("s1", "f1"), ("s2", "f2")]


def test_large_frames_go_by_reference() -> None:
    settings = Settings()
    objects, publisher = MemoryObjectStore(), FakePublisher()
    gate = GateProducer(settings, GateConfig("g1", "e1", "cam", inline_max_bytes=1000),
                        publisher, objects)  # type: ignore[arg-type]
    small = Frame(b"x" * 10, "image/jpeg", 1, 1, "a")
    big = Frame(b"y" * 5000, "image/jpeg", 1, 1, "b")
    gate.send("s1", small)
    gate.send("s2", big)
    (_, key1, _, r1), (_, _, _, r2) = publisher.sent
    assert key1 == "g1" and r1["frame"]["data"] == small.data
    ref = r2["frame"]
    assert objects.get(ref["bucket"], ref["key"]) == big.data and ref["size_bytes"] == 5000


def test_folder_frames(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").write_bytes(_jpeg(80))
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", np.zeros((10, 20, 3), np.uint8))[1])
    (tmp_path / "notes.txt").write_text("ignored")
    frames = list(folder_frames(tmp_path))
    assert [(f.source_name, f.width, f.height) for f in frames] == [("a.png", 20, 10),
                                                                   ("b.jpg", 80, 80)]
    with pytest.raises(FileNotFoundError):
        list(folder_frames(_empty(tmp_path)))


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_read_roster(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,photos\ns1,a.jpg; b.jpg\ns2,\n")
    entries = read_roster(roster, tmp_path)
    assert entries[0] == RosterEntry("s1", (tmp_path / "a.jpg", tmp_path / "b.jpg"))
    assert entries[1].photos == ()
    (tmp_path / "bad.csv").write_text("id,photo\n1,x\n")
    with pytest.raises(ValueError, match="missing column"):
        read_roster(tmp_path / "bad.csv", tmp_path)


class OneFaceOrNot:
    """Analyzer stub: 'good' bytes have one face, others none."""

    model_version = "1"

    def analyse(self, image: bytes) -> Analysis:
        faces = 1 if image.startswith(b"good") else 0
        return Analysis(faces, {}, (), np.ones(4, np.float32) if faces else None, None)


def test_enroll_refuses_photos_without_a_face(tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(b"good photo")
    (tmp_path / "bad.jpg").write_bytes(b"wall")
    publisher = FakePublisher()
    producer = EnrollmentProducer(Settings(), publisher, OneFaceOrNot())  # type: ignore[arg-type]
    summary = EnrollSummary()
    producer.enroll(RosterEntry("s1", (tmp_path / "ok.jpg", tmp_path / "bad.jpg")), "ADD",
                    summary)
    producer.enroll(RosterEntry("s2", (tmp_path / "bad.jpg", tmp_path / "nope.jpg")), "ADD",
                    summary)
    assert summary.sent == ["s1"]
    assert summary.refused[0][0] == "s2" and "NO_FACE" in summary.refused[0][1]
    (_, key, name, record), = publisher.sent
    assert key == "s1" and name == "Enrollment" and len(record["images"]) == 1
