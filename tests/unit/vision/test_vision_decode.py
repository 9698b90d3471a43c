"""Every hostile or odd input becomes an image or a typed ImageDecodeError, fast."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from examgate.vision.decode import DecodeLimits, decode_image, to_bgr
from examgate.vision.errors import DecodeReason, ImageDecodeError, VisionError
from examgate.vision.image_header import read_header


def _face_like(h: int = 120, w: int = 100) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _reason(data: bytes, limits: DecodeLimits | None = None) -> str:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data, limits)
    assert isinstance(info.value, VisionError)
    return info.value.reason


def _png_with_size(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR claims another size (CRC fixed), like a bomb's header."""
    data = bytearray(_encode(_face_like(40, 40), ".png"))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def test_valid_jpeg_png_webp_bmp_decode_to_bgr():
    img = _face_like()
    for ext in (".jpg", ".png", ".webp", ".bmp"):
        out = decode_image(_encode(img, ext))
        assert out.shape == (120, 100, 3) and out.dtype == np.uint8
        assert out.flags.c_contiguous


def test_empty_bytes():
    assert _reason(b"") == DecodeReason.EMPTY


def test_not_an_image():
    assert _reason(b"%PDF-1.7 definitely not a picture" * 10) == DecodeReason.NOT_AN_IMAGE
    assert _reason(b"\x00" * 4096) == DecodeReason.NOT_AN_IMAGE


def test_truncated_jpeg_body_and_header():
    data = _encode(_face_like())
    assert _reason(data[: len(data) // 2]) == DecodeReason.TRUNCATED
    assert _reason(data[:20]) == DecodeReason.TRUNCATED


def test_truncated_png():
    data = _encode(_face_like(), ".png")
    assert _reason(data[: len(data) // 2]) == DecodeReason.TRUNCATED


def test_corrupt_jpeg_is_an_error_or_an_image_never_a_crash():
    data = bytearray(_encode(_face_like(240, 240)))
    data[600:1400] = bytes(np.random.default_rng(1).integers(0, 255, 800, dtype=np.uint8))
    try:
        out = decode_image(bytes(data))
    except ImageDecodeError as exc:
        assert exc.reason in {DecodeReason.CORRUPT, DecodeReason.TRUNCATED}
    else:  # libjpeg conceals damaged blocks: garbage pixels, judged later by the detector
        assert out.shape == (240, 240, 3)


def test_corrupt_jpeg_marker_structure():
    data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
    assert _reason(data) in {DecodeReason.CORRUPT, DecodeReason.TRUNCATED}


def test_png_with_alpha_drops_alpha():
    bgra = np.dstack([_face_like(), np.full((120, 100), 7, np.uint8)])
    out = decode_image(_encode(bgra, ".png"))
    assert out.shape == (120, 100, 3)
    np.testing.assert_array_equal(out, bgra[:, :, :3])


def test_grayscale_becomes_three_equal_channels():
    gray = _face_like()[:, :, 0]
    out = decode_image(_encode(gray, ".png"))
    assert out.shape == (120, 100, 3)
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], gray)


def test_sixteen_bit_png_becomes_eight_bit():
    img16 = _face_like().astype(np.uint16) * 257
    out = decode_image(_encode(img16, ".png"))
    assert out.dtype == np.uint8 and out.shape == (120, 100, 3)


def test_cmyk_jpeg_decodes_to_bgr():
    image_mod = pytest.importorskip("PIL.Image")
    rgb = _face_like()[:, :, ::-1]
    buf = io.BytesIO()
    image_mod.fromarray(np.ascontiguousarray(rgb)).convert("CMYK").save(buf, "JPEG", quality=95)
    assert read_header(buf.getvalue()).channels == 4
    out = decode_image(buf.getvalue())
    assert out.shape == (120, 100, 3)
    assert np.abs(out.astype(int) - rgb[:, :, ::-1].astype(int)).mean() < 40


def test_one_pixel_image_is_too_small():
    assert _reason(_encode(np.zeros((1, 1, 3), np.uint8), ".png")) == DecodeReason.TOO_SMALL
    assert _reason(_encode(np.zeros((1, 1, 3), np.uint8))) == DecodeReason.TOO_SMALL


def test_huge_dimensions_refused_from_the_header():
    assert read_header(_png_with_size(10000, 10000)).width == 10000
    assert _reason(_png_with_size(10000, 10000)) == DecodeReason.TOO_LARGE


def test_huge_jpeg_refused_before_decoding():
    # A real 10000x10000 JPEG, encoded cheaply from a flat image (a few hundred KB).
    big = _encode(np.full((10000, 10000, 3), 128, np.uint8))
    assert read_header(big).width == 10000
    assert _reason(big) == DecodeReason.TOO_LARGE


def test_byte_limit():
    data = _encode(_face_like())
    assert _reason(data, DecodeLimits(max_bytes=100)) == DecodeReason.TOO_LARGE


def test_gif_and_tiff_are_unsupported():
    assert _reason(b"GIF89a" + b"\x00" * 64) == DecodeReason.UNSUPPORTED_FORMAT
    assert _reason(b"II*\x00" + b"\x00" * 64) == DecodeReason.UNSUPPORTED_FORMAT


def test_header_lies_about_size():
    data = _png_with_size(64, 64)  # pixels are 40x40
    assert _reason(data) in {DecodeReason.CORRUPT, DecodeReason.TRUNCATED}


def test_to_bgr_normalises_arrays():
    assert to_bgr(np.zeros((5, 6), np.uint8)).shape == (5, 6, 3)
    assert to_bgr(np.zeros((5, 6, 4), np.uint8)).shape == (5, 6, 3)
    with pytest.raises(ImageDecodeError):
        to_bgr(np.zeros((5, 6, 3), np.float32))
