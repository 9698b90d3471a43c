"""SHA-256 of files: model files are pinned by their digest wherever they travel."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (``OSError`` when it cannot be read).

    Every call reads the file: an integrity check must see what is on disk now.
    A caller that hashes the same large file often may remember the result per
    (path, size, mtime) itself.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
