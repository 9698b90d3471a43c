"""Frame sources for a gate: a camera device, a video file or a folder of images (OpenCV).

Each check-in is a :class:`Capture`: the primary frame the face is matched on, plus a
short burst of frames taken right after it for the liveness checks (motion, parallax,
screen and paper cues). A source that can give no burst yields captures without one,
and the gate is then a single-frame gate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from examgate.vision.errors import ImageDecodeError
from examgate.vision.image_header import read_header

log = logging.getLogger("examgate.gate")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DEFAULT_BURST = 4
DEFAULT_BURST_INTERVAL_S = 0.125


@dataclass(frozen=True)
class Frame:
    """One captured frame: encoded bytes plus what the camera says about it."""

    data: bytes
    content_type: str
    width: int
    height: int
    source_name: str  # file name, or "frame-N" for a camera or video


@dataclass(frozen=True)
class Capture:
    """What one check-in sends: the primary frame and the burst captured right after it."""

    primary: Frame
    burst: tuple[Frame, ...] = ()
    name: str = ""  # a burst folder's name; empty: the primary frame's name

    @property
    def source_name(self) -> str:
        """The name the claim iterators read a student id from."""
        return self.name or self.primary.source_name


@dataclass
class Source:
    """An opened gate source: its captures, its kind and the burst it aims to give."""

    captures: Iterator[Capture]
    kind: str  # camera, video or folder (CameraMetadata.source)
    burst: int  # extra frames per check-in; 0: a single-frame gate


class VideoLike(Protocol):
    """The part of ``cv2.VideoCapture`` the sources use (a fake stands in for it in tests)."""

    def read(self) -> tuple[bool, Any]: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, Any]: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG-encode a BGR frame."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not JPEG-encode the frame")
    return buf.tobytes()


def _encoded(image: np.ndarray, name: str) -> Frame:
    return Frame(encode_jpeg(image), "image/jpeg", image.shape[1], image.shape[0], name)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _burst_folders(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and _images_in(d))


def image_file(path: Path) -> Frame:
    """One image file as a frame, bytes as stored (no re-encoding)."""
    data = path.read_bytes()
    try:
        header = read_header(data)
        w, h = header.width, header.height
    except ImageDecodeError:
        w, h = 0, 0  # sent all the same: the verifier decides what an unreadable frame means
    ctype = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return Frame(data, ctype, w, h, path.name)


def folder_frames(folder: Path) -> Iterator[Frame]:
    """Every image in ``folder`` in name order, bytes as stored (no re-encoding)."""
    paths = _images_in(folder)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for p in paths:
        yield image_file(p)


def folder_bursts(folder: Path, burst: int) -> Iterator[Capture]:
    """One capture per sub-folder of ``folder`` (in name order): its first image in name order
    is the primary, the next ``burst`` ones the burst; the capture is named after the folder."""
    folders = _burst_folders(folder)
    if not folders:
        raise FileNotFoundError(f"no burst sub-folders with images in {folder}")
    for d in folders:
        paths = _images_in(d)
        if len(paths) > burst + 1:
            log.debug("gate: %s holds %d images; the first %d are sent", d, len(paths),
                      burst + 1)
        yield Capture(image_file(paths[0]), tuple(image_file(p) for p in paths[1:burst + 1]),
                      d.name)


def folder_captures(folder: Path, burst: int) -> tuple[Iterator[Capture], bool]:
    """The captures of a folder of images (one single-frame check-in each) or of a folder of
    burst sub-folders, and whether it is the latter. A folder holding both is refused."""
    images, bursts = _images_in(folder), _burst_folders(folder)
    if images and bursts:
        raise ValueError(f"{folder} holds both images and burst sub-folders "
                         f"({bursts[0].name}/, ...): use one or the other")
    if bursts:
        return folder_bursts(folder, burst), True
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) nor burst "
                                f"sub-folders in {folder}")
    return (Capture(f) for f in folder_frames(folder)), False


def video_captures(cap: VideoLike, burst: int, interval_s: float) -> Iterator[Capture]:
    """Captures from a video file: a frame, then the next ``burst`` frames, one every
    ``interval_s`` of video time when the file knows its frame rate (else consecutive ones)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    step = max(1, round(fps * interval_s)) if math.isfinite(fps) and fps > 0 else 1
    n = 0  # frames read from the video so far
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            n += 1
            primary, extra = _encoded(image, f"frame-{n}"), []
            for _ in range(burst):
                skipped = 0
                while skipped < step - 1 and cap.grab():
                    skipped += 1
                n += skipped
                if skipped < step - 1:
                    break  # the video ended inside the burst: send what there is
                ok, image = cap.read()
                if not ok:
                    break
                n += 1
                extra.append(_encoded(image, f"frame-{n}"))
            yield Capture(primary, tuple(extra))
    finally:
        cap.release()


def camera_captures(cap: VideoLike, burst: int, interval_s: float,
                    clock: Callable[[], float] = time.monotonic) -> Iterator[Capture]:
    """Captures from a live camera: a frame, then ``burst`` more taken ``interval_s`` apart.

    Between burst frames the camera is drained with ``grab()`` until the next frame is
    due, so a burst frame is what the camera saw then, not one buffered earlier; frames
    are JPEG-encoded after the burst so encoding does not stretch its timing.
    """
    n = 0  # frames the camera has given so far, kept or not
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            t0 = clock()
            n += 1
            shots = [(image, n)]
            for k in range(1, burst + 1):
                ok = cap.grab()  # at least one new frame, even at a short interval
                n += ok
                while ok and clock() < t0 + k * interval_s:
                    ok = cap.grab()
                    n += ok
                ok, image = cap.retrieve() if ok else (False, None)
                if not ok:
                    break  # the camera went away inside the burst: send what there is
                shots.append((image, n))
            frames = [_encoded(im, f"frame-{i}") for im, i in shots]
            yield Capture(frames[0], tuple(frames[1:]))
    finally:
        cap.release()


def open_capture(source: str | int) -> cv2.VideoCapture:
    """An opened OpenCV capture of a camera index or a video file."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open camera or video {source!r}")
    return cap


def open_source(source: str, burst: int = DEFAULT_BURST,
                interval_s: float = DEFAULT_BURST_INTERVAL_S) -> Source:
    """Pick the source kind: a digit is a camera index, a folder, else a video file."""
    if burst < 0 or interval_s <= 0:
        raise ValueError("burst must be 0 or more and its interval positive")
    if source.isdigit():
        return Source(camera_captures(open_capture(int(source)), burst, interval_s), "camera",
                      burst)
    path = Path(source)
    if path.is_dir():
        captures, has_bursts = folder_captures(path, burst)
        return Source(captures, "folder", burst if has_bursts else 0)
    if path.is_file():
        return Source(video_captures(open_capture(str(path)), burst, interval_s), "video",
                      burst)
    raise FileNotFoundError(f"{source} is neither a camera index, a folder nor a video file")
