"""Backward-compatibility checks for event schemas, using Apache Avro's own checker.

"Backward compatible" means a consumer on the new schema reads every event a
producer on the old schema wrote: the rule that lets processors be upgraded
before producers. The check is Avro's reader/writer compatibility, not ours.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from examgate.core.codec import EVENT_SCHEMAS, resolved_schema, schema_version

# The repository's schemas/, the source of truth (the package carries a copy).
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def is_backward_compatible(old: dict[str, Any], new: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``new`` (reader) can read data written with ``old`` (writer), and why not."""
    import avro.compatibility
    import avro.schema

    checker = avro.compatibility.ReaderWriterCompatibilityChecker()
    result = checker.get_compatibility(
        reader=avro.schema.parse(json.dumps(new)), writer=avro.schema.parse(json.dumps(old)))
    ok = result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible
    return ok, "; ".join(f"{i}" for i in result.messages) if not ok else ""


def history_versions(name: str, folder: Path = SCHEMA_DIR) -> dict[int, dict[str, Any]]:
    """Every released version of ``name`` kept under ``schemas/history``."""
    out = {}
    for path in sorted((folder / "history").glob(f"{name}.v*.avsc")):
        out[int(path.stem.rsplit(".v", 1)[1])] = json.loads(path.read_text())
    return out


def git_version(name: str, ref: str, folder: Path = SCHEMA_DIR) -> dict[str, Any] | None:
    """``name`` as resolved at git ``ref`` (None when git or the ref is unavailable)."""
    repo = folder.parent
    try:
        tree = subprocess.run(["git", "-C", str(repo), "archive", ref, folder.name],
                              capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(tmp, filter="data")
        old_dir = Path(tmp) / folder.name
        if not (old_dir / f"{name}.avsc").is_file():
            return None
        return resolved_schema(name, old_dir)


def current_versions(folder: Path = SCHEMA_DIR) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every event schema's current version number and resolved schema."""
    out = {}
    for name in EVENT_SCHEMAS:
        raw = json.loads((folder / f"{name}.avsc").read_text())
        out[name] = (schema_version(raw), resolved_schema(name, folder))
    return out
