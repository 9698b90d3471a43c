"""The gate's burst: folders of bursts, videos and cameras give a frame plus a burst, and one
CheckIn carries both (inline or by a reference the verifier accepts as the gate's own)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from examgate.adapters.kafka import DeliveryReport
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings
from examgate.core.verify import is_gate_upload
from producers import cli
from producers.frames import (
    Capture,
    Frame,
    camera_captures,
    folder_captures,
    open_source,
    video_captures,
)
from producers.gate import GateConfig, GateProducer, claims_from_filenames, claims_from_roster


class FakePublisher:
    """Keeps what would be published; every record is encoded against its schema."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, dict]] = []
        self.codec = EventCodec()

    def publish(self, topic: str, key: str, name: str, record: dict) -> None:
        self.codec.encode(name, record)
        self.sent.append((topic, key, name, record))

    def flush(self) -> DeliveryReport:
        return DeliveryReport(delivered=len(self.sent))


def _jpeg(value: int, side: int = 32) -> bytes:
    return cv2.imencode(".jpg", np.full((side, side, 3), value, np.uint8))[1].tobytes()


def _grey(data: bytes) -> float:
    return float(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE).mean())


def _gate(inline_max_bytes: int = 1 << 20, burst: int = 4
          ) -> tuple[GateProducer, FakePublisher, MemoryObjectStore]:
    objects, publisher = MemoryObjectStore(), FakePublisher()
    gate = GateProducer(Settings(), GateConfig("g1", "e1", "cam", inline_max_bytes, burst),
                        publisher, objects)  # type: ignore[arg-type]
    return gate, publisher, objects


def _bursts(root: Path) -> Path:
    """s1__front/ with three frames, s2/ with one, and a stray text file."""
    for folder, values in (("s1__front", (10, 20, 30)), ("s2", (40,))):
        (root / folder).mkdir(parents=True)
        for i, v in enumerate(values):
            (root / folder / f"{i:02d}.jpg").write_bytes(_jpeg(v))
    (root / "notes.txt").write_text("ignored")
    (root / "s1__front" / "readme.txt").write_text("ignored")
    return root


# -- sources ---------------------------------------------------------------------------


def test_folder_of_bursts_gives_one_capture_per_subfolder(tmp_path: Path) -> None:
    source = open_source(str(_bursts(tmp_path)), burst=4)
    assert (source.kind, source.burst) == ("folder", 4)
    claims = list(claims_from_filenames(source.captures))
    assert [sid for sid, _ in claims] == ["s1", "s2"]
    first, second = claims[0][1], claims[1][1]
    assert first.primary.source_name == "00.jpg" and first.source_name == "s1__front"
    assert [f.source_name for f in first.burst] == ["01.jpg", "02.jpg"]
    assert [round(_grey(f.data) / 10) for f in (first.primary, *first.burst)] == [1, 2, 3]
    assert second.burst == ()  # a short burst folder is sent with what it has
    # --burst caps what is sent; the roster names the burst folder like a file.
    roster = tmp_path / "roster.csv"
    roster.write_text("file,student_id\ns1__front,S-1\n")
    captures, has_bursts = folder_captures(tmp_path, burst=1)
    assert has_bursts
    ((sid, capture),) = claims_from_roster(captures, roster)
    assert sid == "S-1" and [f.source_name for f in capture.burst] == ["01.jpg"]


def test_flat_folder_is_single_frame_and_mixed_folder_is_refused(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "s9__a.jpg").write_bytes(_jpeg(50))
    source = open_source(str(flat), burst=4)
    assert source.burst == 0
    assert [(c.source_name, c.burst) for c in source.captures] == [("s9__a.jpg", ())]
    _bursts(flat)
    with pytest.raises(ValueError, match="both images and burst sub-folders"):
        open_source(str(flat))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError):
        open_source(str(empty))


def _video(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 24))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((24, 32, 3), i * 6, np.uint8))
    writer.release()
    return path


def test_video_burst_is_subsampled_to_the_interval(tmp_path: Path) -> None:
    video = _video(tmp_path / "gate.avi", frames=30, fps=24)
    source = open_source(str(video), burst=4, interval_s=0.125)  # 3 video frames apart
    assert (source.kind, source.burst) == ("video", 4)
    captures = list(source.captures)
    names = [[f.source_name for f in (c.primary, *c.burst)] for c in captures]
    assert names[0] == ["frame-1", "frame-4", "frame-7", "frame-10", "frame-13"]
    assert names[1] == ["frame-14", "frame-17", "frame-20", "frame-23", "frame-26"]
    assert names[2] == ["frame-27", "frame-30"]  # the video ended inside the burst
    first = captures[0]
    assert [round(_grey(f.data) / 6) for f in (first.primary, *first.burst)] == [0, 3, 6, 9, 12]
    assert (first.primary.width, first.primary.height) == (32, 24)


class FakeCamera:
    """A camera at ``fps`` whose clock runs with the frames it gives; frame i has grey i."""

    def __init__(self, frames: int, fps: float = 30.0) -> None:
        self.frames, self.period = frames, 1.0 / fps
        self.index, self.now, self.released = 0, 0.0, False

    def clock(self) -> float:
        return self.now

    def grab(self) -> bool:
        if self.index >= self.frames:
            return False
        self.index += 1
        self.now += self.period
        return True

    def retrieve(self) -> tuple[bool, Any]:
        return True, np.full((24, 32, 3), self.index, np.uint8)

    def read(self) -> tuple[bool, Any]:
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop_id: int) -> float:
        return 0.0  # a live camera: no usable frame rate

    def release(self) -> None:
        self.released = True


def test_camera_burst_grabs_frames_at_the_interval() -> None:
    camera = FakeCamera(frames=25, fps=30)
    captures = list(camera_captures(camera, burst=4, interval_s=0.125, clock=camera.clock))
    first = captures[0]
    shown = [round(_grey(f.data)) for f in (first.primary, *first.burst)]
    assert shown == [int(f.source_name.removeprefix("frame-"))
                     for f in (first.primary, *first.burst)]
    for k, index in enumerate(shown[1:], start=1):
        waited = (index - shown[0]) / 30
        assert k * 0.125 - 1e-9 <= waited < k * 0.125 + 1 / 30 + 1e-9
    assert len(captures[1].burst) < 4  # the camera stopped inside the second burst
    assert camera.released


def test_camera_with_a_short_interval_still_takes_new_frames() -> None:
    camera = FakeCamera(frames=10, fps=30)
    capture = next(camera_captures(camera, burst=3, interval_s=0.001, clock=camera.clock))
    assert [f.source_name for f in capture.burst] == ["frame-2", "frame-3", "frame-4"]


def test_video_without_a_frame_rate_takes_consecutive_frames() -> None:
    camera = FakeCamera(frames=6)
    captures = list(video_captures(camera, burst=2, interval_s=0.125))
    assert [[f.source_name for f in (c.primary, *c.burst)] for c in captures] == [
        ["frame-1", "frame-2", "frame-3"], ["frame-4", "frame-5", "frame-6"]]


# -- the CheckIn ----------------------------------------------------------------------------


def _capture(sizes: list[int]) -> Capture:
    frames = [Frame(bytes([i]) * n, "image/jpeg", 4, 4, f"f{i}") for i, n in enumerate(sizes)]
    return Capture(frames[0], tuple(frames[1:]))


def test_burst_frames_by_reference_are_the_gates_uploads() -> None:
    gate, publisher, objects = _gate(inline_max_bytes=10)
    event_id = gate.send("s1", _capture([100, 50, 50, 50, 50]), "camera")
    ((_, key, name, record),) = publisher.sent
    assert (key, name, record["event_id"]) == ("g1", "CheckIn", event_id)
    refs = [record["frame"], *record["extra_frames"]]
    assert [r["key"] for r in refs] == [f"incoming/g1/{event_id}"] + [
        f"incoming/g1/{event_id}-{k}" for k in range(1, 5)]
    for ref in refs:
        assert is_gate_upload(ref["key"], "g1")
        assert len(objects.get(ref["bucket"], ref["key"])) == ref["size_bytes"]
    assert EventCodec().encode("CheckIn", record)


def test_one_inline_budget_per_checkin_primary_first() -> None:
    gate, publisher, objects = _gate(inline_max_bytes=200)
    gate.send("s1", _capture([120, 50, 50, 10]))
    record = publisher.sent[0][3]
    assert "data" in record["frame"]
    kinds = ["inline" if "data" in f else "ref" for f in record["extra_frames"]]
    assert kinds == ["inline", "ref", "inline"]  # 120 + 50 + 10 fit in 200, 50 more does not
    assert record["extra_frames"][1]["key"].endswith("-2")
    assert EventCodec().encode("CheckIn", record)


def test_a_burst_frame_the_store_refuses_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    gate, publisher, objects = _gate(inline_max_bytes=150)
    gate.send("s1", _capture([100, 10]))  # fits inline: no upload needed
    objects.fail = True
    gate.send("s2", _capture([100, 10, 80]))
    extra = publisher.sent[1][3]["extra_frames"]
    assert len(extra) == 1 and extra[0]["data"] == bytes([1]) * 10
    assert "not stored, left out" in caplog.text


def test_lone_frames_still_make_single_frame_checkins() -> None:
    gate, publisher, _ = _gate(burst=0)
    gate.send("s1", Frame(b"x" * 10, "image/jpeg", 1, 1, "a.jpg"))
    assert publisher.sent[0][3]["extra_frames"] == []


# -- the command ---------------------------------------------------------------------------


def _run_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
              ) -> tuple[Any, FakePublisher]:
    publisher = FakePublisher()

    def fake_make_gate(settings: Settings, gate_id: str, exam_id: str, camera_id: str | None = None,
                       inline_max_bytes: int = 0, burst: int = 0) -> GateProducer:
        return GateProducer(settings, GateConfig(gate_id, exam_id, gate_id, inline_max_bytes,
                                                 burst),
                            publisher, MemoryObjectStore())  # type: ignore[arg-type]

    monkeypatch.setattr("producers.gate.make_gate", fake_make_gate)
    monkeypatch.setattr(cli, "load_settings", Settings)
    app = typer.Typer()
    app.command()(cli.gate)
    result = CliRunner().invoke(app, ["--gate-id", "g1", "--exam-id", "e1", "--ids-from",
                                      "filename", "--source", str(tmp_path), *args])
    return result, publisher


def test_gate_command_sends_bursts_by_default(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _bursts(tmp_path)
    result, publisher = _run_gate(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    records = [r for *_, r in publisher.sent]
    assert [(r["claimed_student_id"], len(r["extra_frames"])) for r in records] == [
        ("s1", 2), ("s2", 0)]
    assert records[0]["camera"]["source"] == "folder"


def test_burst_zero_gives_single_frame_checkins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    _bursts(tmp_path)
    with caplog.at_level(logging.INFO, logger="examgate.gate"):
        result, publisher = _run_gate(tmp_path, monkeypatch, "--burst", "0")
    assert result.exit_code == 0, result.output
    assert [r["extra_frames"] for *_, r in publisher.sent] == [[], []]
    single = [r for r in caplog.records if "single-frame gate" in r.getMessage()]
    assert len(single) == 1 and "LIVENESS_UNCERTAIN" in single[0].getMessage()
    for _, _, name, record in publisher.sent:
        EventCodec().encode(name, record)
