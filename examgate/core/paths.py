"""Default locations, from the standard library only (the GPU trainer imports this bare)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """Where downloads and builds are cached for every checkout and install of this user."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "examgate"
