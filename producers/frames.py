"""Frame sources for a gate: a camera device, a video file or a folder of images (OpenCV)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from examgate.vision.errors import ImageDecodeError
from examgate.vision.image_header import read_header

log = logging.getLogger("examgate.gate")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Frame:
    """One captured frame: encoded bytes plus what the camera says about it."""

    data: bytes
    content_type: str
    width: int
    height: int
    source_name: str  # file name, or "frame-N" for a camera or video


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG-encode a BGR frame."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not JPEG-encode the frame")
    return buf.tobytes()


def folder_frames(folder: Path) -> Iterator[Frame]:
    """Every image in ``folder`` in name order, bytes as stored (no re-encoding)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for p in paths:
        data = p.read_bytes()
        try:
            header = read_header(data)
            w, h = header.width, header.height
        except ImageDecodeError:
            w, h = 0, 0  # sent all the same: the verifier decides what an unreadable frame means
        ctype = "image/png" if p.suffix.lower() == ".png" else "image/jpeg"
        yield Frame(data, ctype, w, h, p.name)


def capture_frames(source: str | int) -> Iterator[Frame]:
    """Frames from a camera index or a video file, JPEG-encoded."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open camera or video {source!r}")
    n = 0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            n += 1
            yield Frame(encode_jpeg(image), "image/jpeg", image.shape[1], image.shape[0],
                        f"frame-{n}")
    finally:
        cap.release()


def open_source(source: str) -> tuple[Iterator[Frame], str]:
    """Pick the source kind: a digit is a camera index, a folder, else a video file."""
    if source.isdigit():
        return capture_frames(int(source)), "camera"
    path = Path(source)
    if path.is_dir():
        return folder_frames(path), "folder"
    if path.is_file():
        return capture_frames(str(path)), "video"
    raise FileNotFoundError(f"{source} is neither a camera index, a folder nor a video file")
