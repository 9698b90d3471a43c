"""The proctor review console: live decisions, the review queue and verdicts, as a web app.

``python -m dashboard serve`` runs it; :func:`serve` is the same for other entry points.
"""

from __future__ import annotations

from pathlib import Path


def serve(host: str = "127.0.0.1", port: int = 8080, *, config: str | Path | None = None,
          console_config: str | Path | None = None) -> None:
    """Run the console until interrupted (settings from env and the optional files)."""
    from .server import serve as _serve

    _serve(host, port, config=config, console_config=console_config)


__all__ = ["serve"]
