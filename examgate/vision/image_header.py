"""Read an image's format and dimensions from its first bytes, before any pixel is decoded.

This is what bounds memory: a 100-megapixel image or a decompression bomb is
refused from its header, so the decoder never allocates its pixels. Only the
formats a camera or a registrar sends are accepted (JPEG, PNG, WebP, BMP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from examgate.vision.errors import DecodeReason, ImageDecodeError

# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """Format, size and channel count as stated by the file itself."""

    format: str
    width: int
    height: int
    channels: int
    complete: bool = True
    """False when the file visibly ends early (JPEG: no EOI after the scan; PNG: no IEND)."""


def _fail(reason: DecodeReason, message: str) -> ImageDecodeError:
    return ImageDecodeError(reason, message)


def read_header(data: bytes) -> ImageHeader:
    """Parse the header of ``data``; raise :class:`ImageDecodeError` if it is not an image."""
    if len(data) == 0:
        raise _fail(DecodeReason.EMPTY, "zero bytes")
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:8] == _PNG_SIGNATURE:
        return _png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*") or data[:4] == b"GIF8":
        raise _fail(DecodeReason.UNSUPPORTED_FORMAT, "TIFF and GIF are not accepted")
    raise _fail(DecodeReason.NOT_AN_IMAGE, "no JPEG, PNG, WebP or BMP signature")


def _jpeg(data: bytes) -> ImageHeader:
    n = len(data)
    i = 2
    frame: tuple[int, int, int] | None = None
    while i < n:
        if data[i] != 0xFF:
            raise _fail(DecodeReason.CORRUPT, f"JPEG marker expected at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        if marker == 0xD9:
            raise _fail(DecodeReason.CORRUPT, "JPEG ends before its image data")
        if i + 2 > n:
            break
        (length,) = struct.unpack_from(">H", data, i)
        if length < 2:
            raise _fail(DecodeReason.CORRUPT, "JPEG segment with an invalid length")
        if marker in _SOF_MARKERS:
            if i + 8 > n:
                break
            height, width = struct.unpack_from(">HH", data, i + 3)
            frame = (width, height, data[i + 7])
        if marker == 0xDA:  # start of scan: the header is over
            if frame is None:
                raise _fail(DecodeReason.CORRUPT, "JPEG scan without a frame header")
            width, height, comps = frame
            if width == 0 or height == 0:
                raise _fail(DecodeReason.UNSUPPORTED_FORMAT, "JPEG without stated dimensions")
            # Entropy-coded data never holds FF D9, so the real EOI must follow the scan.
            complete = data.find(b"\xff\xd9", i) != -1
            return ImageHeader("jpeg", width, height, comps, complete)
        i += length
    raise _fail(DecodeReason.TRUNCATED, "JPEG ends inside its header")


def _png(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _fail(DecodeReason.TRUNCATED if len(data) < 33 else DecodeReason.CORRUPT,
                    "PNG without a complete IHDR chunk")
    width, height, _depth, colour = struct.unpack_from(">IIBB", data, 16)
    if colour not in _PNG_CHANNELS:
        raise _fail(DecodeReason.CORRUPT, f"PNG colour type {colour} is invalid")
    complete = data.rfind(b"IEND") != -1
    return ImageHeader("png", width, height, _PNG_CHANNELS[colour], complete)


def _webp(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageHeader("webp", width, height, 4 if data[20] & 0x10 else 3)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF, 3)
    raise _fail(DecodeReason.CORRUPT, "WebP without a readable frame header")


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise _fail(DecodeReason.TRUNCATED, "BMP ends inside its header")
    (dib_size,) = struct.unpack_from("<I", data, 14)
    if dib_size == 12:
        width, height = struct.unpack_from("<HH", data, 18)
        return ImageHeader("bmp", width, height, 3)
    if dib_size >= 40 and len(data) >= 30:
        width, height, _planes, bpp = struct.unpack_from("<iiHH", data, 18)
        return ImageHeader("bmp", abs(width), abs(height), 4 if bpp == 32 else 3)
    raise _fail(DecodeReason.CORRUPT, "BMP with an unknown header")
