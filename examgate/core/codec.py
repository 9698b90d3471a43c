"""Avro codec for ExamGate events: schemaless fastavro bodies behind a small self-describing header.

Wire format (big-endian)::

    b"EG" | header version (1 byte) | name length (1 byte) | schema name (ASCII) |
    schema version (2 bytes) | Avro body (schemaless)

The header lets a consumer pick the writer schema, so a reader on a newer schema
still decodes events written by an older producer (Avro schema resolution).
Anything that cannot be decoded raises :class:`CodecError`, whose ``reason``
feeds the dead-letter record.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError

# Package data: a copy of the repository's schemas/ (the source of truth), kept equal by
# tests/contract/test_schemas.py, so an installed wheel needs no checkout.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
NAMESPACE = "examgate"
MAGIC = b"EG"
HEADER_VERSION = 1
EVENT_SCHEMAS = ("CheckIn", "Decision", "Enrollment", "Feedback", "ModelChanged", "DeadLetter",
                 "AuditEvent")


class CodecError(ValueError):
    """Bytes that are not a valid ExamGate event, or a record that does not fit its schema."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # UNDECODABLE, WRONG_SCHEMA or INVALID_FIELD (DeadLetterReason)
        self.detail = detail


def _inline_named_types(node: Any, folder: Path, seen: set[str]) -> Any:
    """Replace the first reference to each ``examgate.X`` with the definition in ``X.avsc``.

    Later references keep the name, which is what Avro requires of a standalone schema.
    """
    if isinstance(node, str):
        if node.startswith(NAMESPACE + ".") and node not in seen:
            seen.add(node)
            path = folder / f"{node.removeprefix(NAMESPACE + '.')}.avsc"
            if not path.is_file():
                raise CodecError("WRONG_SCHEMA", f"{node} is referenced but {path} is missing")
            return _inline_named_types(json.loads(path.read_text()), folder, seen)
        return node
    if isinstance(node, list):
        return [_inline_named_types(item, folder, seen) for item in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            seen.add(node["name"] if "." in node["name"]
                     else f"{node.get('namespace', NAMESPACE)}.{node['name']}")
        return {k: (_inline_named_types(v, folder, seen) if k in ("type", "items", "values",
                                                                  "fields") else v)
                for k, v in node.items()}
    return node


def schema_version(schema: Mapping[str, Any]) -> int:
    """The ``version`` property of an event schema (1 when absent)."""
    return int(schema.get("version", 1))


def resolved_schema(name: str, folder: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The schema of ``name`` as one self-contained JSON document, named types inlined."""
    raw = json.loads((folder / f"{name}.avsc").read_text())
    return _inline_named_types(raw, folder, set())


def load_event_schema(name: str, folder: Path = SCHEMA_DIR) -> Any:
    """Parse one event schema with every named type it references."""
    return fastavro.parse_schema(resolved_schema(name, folder))


def history_path(name: str, version: int, folder: Path = SCHEMA_DIR) -> Path:
    """Where the frozen, fully resolved snapshot of a released schema version lives."""
    return folder / "history" / f"{name}.v{version}.avsc"


def snapshot_schema(name: str, folder: Path = SCHEMA_DIR) -> Path:
    """Freeze the current version of ``name`` under history/ before its next change."""
    raw = json.loads((folder / f"{name}.avsc").read_text())
    path = history_path(name, schema_version(raw), folder)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(resolved_schema(name, folder), indent=1) + "\n")
    return path


@dataclass(frozen=True)
class DecodedEvent:
    """A decoded event with the schema it was written with."""

    name: str
    version: int
    record: dict[str, Any]


class EventCodec:
    """Encodes and decodes the events of ``schemas/*.avsc``."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        self.schema_dir = schema_dir

    @cached_property
    def _current(self) -> dict[str, tuple[int, Any]]:
        out = {}
        for name in EVENT_SCHEMAS:
            raw = json.loads((self.schema_dir / f"{name}.avsc").read_text())
            out[name] = (schema_version(raw), load_event_schema(name, self.schema_dir))
        return out

    def _writer_schema(self, name: str, version: int) -> Any:
        current_version, current = self._current[name]
        if version == current_version:
            return current
        # Older versions stay readable: snapshots of them are kept under history/.
        path = history_path(name, version, self.schema_dir)
        if path.is_file():
            return fastavro.parse_schema(json.loads(path.read_text()))
        raise CodecError("WRONG_SCHEMA", f"{name} version {version} is unknown to this reader")

    def version(self, name: str) -> int:
        """The current version of event schema ``name``."""
        return self._current[name][0]

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Validate ``record`` against schema ``name`` and encode it with the header."""
        if name not in self._current:
            raise CodecError("WRONG_SCHEMA", f"unknown event type {name!r}")
        version, schema = self._current[name]
        buf = io.BytesIO()
        buf.write(MAGIC + struct.pack(">BB", HEADER_VERSION, len(name)) + name.encode("ascii"))
        buf.write(struct.pack(">H", version))
        try:
            fastavro.schemaless_writer(buf, schema, dict(record), strict_allow_default=True)
        except (ValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise CodecError("INVALID_FIELD", f"{name} record does not fit its schema: {exc}") \
                from exc
        return buf.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> DecodedEvent:
        """Decode bytes from Kafka; ``expected`` names the only event type acceptable here."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CodecError("UNDECODABLE", f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        name, version, body_start = self._read_header(data)
        if expected is not None and name != expected:
            raise CodecError("WRONG_SCHEMA", f"expected a {expected} event, got {name}")
        writer = self._writer_schema(name, version)
        reader = self._current[name][1]
        stream = io.BytesIO(data[body_start:])
        try:
            record = fastavro.schemaless_reader(stream, writer, reader)
        except Exception as exc:  # fastavro raises many types on garbage; all mean the same here
            raise CodecError("UNDECODABLE", f"{name} v{version} body is corrupt: {exc!r}") from exc
        if stream.tell() != len(data) - body_start:
            raise CodecError("UNDECODABLE", f"{name} v{version} has trailing bytes")
        if not isinstance(record, dict):  # every event schema is a record
            raise CodecError("WRONG_SCHEMA", f"{name} v{version} is not a record")
        return DecodedEvent(name, version, record)

    def _read_header(self, data: bytes) -> tuple[str, int, int]:
        if len(data) < 6 or data[:2] != MAGIC:
            raise CodecError("UNDECODABLE", "not an ExamGate event (missing EG header)")
        header_version, name_len = struct.unpack_from(">BB", data, 2)
        if header_version != HEADER_VERSION:
            raise CodecError("UNDECODABLE", f"unsupported header version {header_version}")
        end = 4 + name_len
        if len(data) < end + 2:
            raise CodecError("UNDECODABLE", "truncated header")
        try:
            name = data[4:end].decode("ascii")
        except UnicodeDecodeError as exc:
            raise CodecError("UNDECODABLE", "schema name is not ASCII") from exc
        if name not in self._current:
            raise CodecError("WRONG_SCHEMA", f"unknown event type {name!r}")
        (version,) = struct.unpack_from(">H", data, end)
        return name, version, end + 2
