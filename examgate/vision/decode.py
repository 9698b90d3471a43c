"""Turn untrusted bytes into a BGR uint8 image, or a typed :class:`ImageDecodeError`.

The size limits are checked on the header first (see :mod:`image_header`),
so a hostile file costs at most ``max_pixels`` of memory and never hangs the
decoder. Grayscale, 16-bit and CMYK images come back as 8-bit BGR; alpha is
dropped; EXIF orientation is applied, as a phone's photo viewer would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from examgate.vision.errors import DecodeReason, ImageDecodeError
from examgate.vision.image_header import ImageHeader, read_header

STAGE = "decode"


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on what :func:`decode_image` accepts."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 32


def decode_image(data: bytes | bytearray | memoryview, limits: DecodeLimits | None = None,
                 ) -> np.ndarray:
    """Decode ``data`` into an (H, W, 3) BGR uint8 array within ``limits``."""
    lim = limits or DecodeLimits()
    raw = bytes(data)
    if len(raw) > lim.max_bytes:
        raise ImageDecodeError(DecodeReason.TOO_LARGE,
                               f"{len(raw)} bytes exceeds the limit of {lim.max_bytes}")
    header = read_header(raw)
    check_header(header, lim)
    if not header.complete:
        raise ImageDecodeError(DecodeReason.TRUNCATED, f"{header.format} file ends early")
    try:
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(DecodeReason.CORRUPT, f"decoder failed: {exc}") from exc
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ImageDecodeError(DecodeReason.CORRUPT, f"{header.format} data cannot be decoded")
    # EXIF rotation may swap the sides; anything else means the header lied.
    if sorted(image.shape[:2]) != sorted((header.height, header.width)):
        raise ImageDecodeError(DecodeReason.CORRUPT, "decoded size differs from the header")
    return np.ascontiguousarray(image, dtype=np.uint8)


def check_header(header: ImageHeader, limits: DecodeLimits) -> None:
    """Raise TOO_LARGE / TOO_SMALL when the stated size is outside ``limits``."""
    pixels = header.width * header.height
    if pixels > limits.max_pixels:
        raise ImageDecodeError(
            DecodeReason.TOO_LARGE,
            f"{header.width}x{header.height} exceeds the limit of {limits.max_pixels} pixels",
        )
    if min(header.width, header.height) < limits.min_side:
        raise ImageDecodeError(
            DecodeReason.TOO_SMALL,
            f"{header.width}x{header.height} is below the minimum side of {limits.min_side}",
        )


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Normalise an in-memory array (gray, BGRA, BGR) to contiguous BGR uint8."""
    if image.dtype != np.uint8:
        raise ImageDecodeError(DecodeReason.UNSUPPORTED_FORMAT,
                               f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise ImageDecodeError(DecodeReason.UNSUPPORTED_FORMAT, f"unexpected shape {image.shape}")
