"""Properties of the two readers of outside bytes: the event codec and the image header.

Whatever arrives, each either returns a value or raises its one documented error type
(:class:`CodecError`, :class:`ImageDecodeError`); and every event generated from the
schemas survives an encode/decode round trip unchanged.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examgate.core.codec import (
    EVENT_SCHEMAS,
    HEADER_VERSION,
    MAGIC,
    CodecError,
    DecodedEvent,
    EventCodec,
    resolved_schema,
)
from examgate.vision.errors import ImageDecodeError
from examgate.vision.image_header import ImageHeader, read_header

# No example database: it would leave a .hypothesis/ folder in the working tree.
PROPS = settings(max_examples=300, deadline=None, database=None)
CODEC = EventCodec()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    # Avro floats are 32-bit: only values a float32 holds come back equal.
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=32),
    "string": st.text(max_size=12),
}


def _of(schema: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Values that fit an Avro schema; ``named`` collects record and enum types by full name."""
    if isinstance(schema, str):
        return _PRIMITIVES[schema] if schema in _PRIMITIVES else st.deferred(lambda: named[schema])
    if isinstance(schema, list):
        return st.one_of([_of(branch, named) for branch in schema])
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        millis = st.integers(0, 7_000_000_000_000)  # 1970 to about 2191, whole milliseconds
        return millis.map(lambda ms: EPOCH + timedelta(milliseconds=ms))
    if kind == "record":
        out = st.fixed_dictionaries({f["name"]: _of(f["type"], named) for f in schema["fields"]})
    elif kind == "enum":
        out = st.sampled_from(schema["symbols"])
    elif kind == "array":
        return st.lists(_of(schema["items"], named), max_size=3)
    elif kind == "map":
        return st.dictionaries(st.text(max_size=6), _of(schema["values"], named), max_size=3)
    else:
        return _of(kind, named)
    name = schema["name"]
    named["examgate." + name if "." not in name else name] = out
    return out


EVENTS = {name: _of(resolved_schema(name), {}) for name in EVENT_SCHEMAS}


def _decodes_or_codec_error(data: bytes) -> None:
    try:
        decoded = CODEC.decode(data)
    except CodecError as exc:
        assert exc.reason in {"UNDECODABLE", "WRONG_SCHEMA", "INVALID_FIELD"}
    else:
        assert isinstance(decoded, DecodedEvent) and isinstance(decoded.record, dict)


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
@settings(PROPS, max_examples=60)
@given(data=st.data())
def test_generated_events_round_trip(name: str, data: st.DataObject) -> None:
    record = data.draw(EVENTS[name], label=name)
    decoded = CODEC.decode(CODEC.encode(name, record), expected=name)
    assert (decoded.name, decoded.version) == (name, CODEC.version(name))
    assert decoded.record == record


@PROPS
@given(st.binary(max_size=256))
def test_arbitrary_bytes_raise_only_codec_error(data: bytes) -> None:
    _decodes_or_codec_error(data)


@PROPS
@given(st.sampled_from(EVENT_SCHEMAS), st.one_of(st.just(1), st.integers(0, 2**16 - 1)),
       st.binary(max_size=256))
def test_a_valid_header_over_garbage_raises_only_codec_error(name: str, version: int,
                                                             body: bytes) -> None:
    header = MAGIC + struct.pack(">BB", HEADER_VERSION, len(name)) + name.encode("ascii")
    _decodes_or_codec_error(header + struct.pack(">H", version) + body)


@PROPS
@given(st.data())
def test_damaged_events_raise_only_codec_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(EVENT_SCHEMAS))
    encoded = bytearray(CODEC.encode(name, data.draw(EVENTS[name])))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip":
            encoded[at] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del encoded[at:]
        else:
            encoded[at:at] = data.draw(st.binary(min_size=1, max_size=9))
        if not encoded:
            break
    _decodes_or_codec_error(bytes(encoded))


def _u32() -> st.SearchStrategy[bytes]:
    return st.one_of(st.integers(0, 70_000), st.integers(0, 2**32 - 1)).map(
        lambda n: struct.pack(">I", n))


@st.composite
def _jpeg(draw: st.DrawFn) -> bytes:
    """SOI, segments whose lengths mostly fit their payloads (often a frame, then a scan), and
    entropy-coded bytes with or without an EOI."""
    markers = st.sampled_from([0xC0, 0xC2, 0xC4, 0xCC, 0xDA, 0xDB, 0xE0, 0xD9, 0x01, 0xD0, 0xFF])
    chosen = draw(st.lists(markers, max_size=3)) + draw(st.sampled_from([[], [0xC0, 0xDA]]))
    out = b"\xff\xd8"
    for marker in chosen:
        payload = draw(st.binary(min_size=6 if marker == 0xC0 else 0, max_size=10))
        length = draw(st.one_of(st.just(len(payload) + 2), st.integers(0, 2**16 - 1)))
        out += b"\xff" + bytes([marker]) + struct.pack(">H", length) + payload
    return out + draw(st.binary(max_size=8)) + draw(st.sampled_from([b"", b"\xff\xd9"]))


@st.composite
def _png(draw: st.DrawFn) -> bytes:
    ihdr = draw(_u32()) + draw(_u32())  # width, height
    return (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d" + draw(st.sampled_from([b"IHDR", b"IDAT"]))
            + ihdr + bytes([draw(st.integers(0, 16)), draw(st.integers(0, 7))])
            + draw(st.binary(min_size=5, max_size=16)) + draw(st.sampled_from([b"", b"IEND"])))


@st.composite
def _webp(draw: st.DrawFn) -> bytes:
    chunk = draw(st.sampled_from([b"VP8X", b"VP8L", b"VP8 ", b"ALPH"]))
    head = b"RIFF" + draw(st.binary(min_size=4, max_size=4)) + b"WEBP" + chunk
    middle = draw(st.binary(min_size=4, max_size=4))  # chunk size
    if chunk == b"VP8L":
        middle += b"\x2f"
    elif chunk == b"VP8 ":
        middle += draw(st.binary(min_size=3, max_size=3)) + b"\x9d\x01\x2a"
    return head + middle + draw(st.binary(max_size=20))


@st.composite
def _bmp(draw: st.DrawFn) -> bytes:
    dib = draw(st.sampled_from([12, 40, 108, 124, 0, 2**32 - 1]))
    return (b"BM" + draw(st.binary(min_size=12, max_size=12)) + struct.pack("<I", dib)
            + draw(st.binary(max_size=20)))


# Bytes that start like each accepted format (and the refused ones), so every parser runs.
image_like_bytes = st.one_of(
    st.binary(max_size=64), _jpeg(), _png(), _webp(), _bmp(),
    st.sampled_from([b"II*\x00", b"MM\x00*", b"GIF8"]).map(lambda sig: sig + b"\x00" * 8))


@PROPS
@given(image_like_bytes)
def test_image_header_raises_only_its_decode_error(data: bytes) -> None:
    try:
        header = read_header(data)
    except ImageDecodeError:
        return
    assert isinstance(header, ImageHeader)
    assert header.format in {"jpeg", "png", "webp", "bmp"}
    assert header.width >= 0 and header.height >= 0 and header.channels >= 0
