"""``examgate console``: serve the proctor review console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def console(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    console_config: Annotated[Path | None, typer.Option(
        help="Console settings file (users, session secret); env EXAMGATE_CONSOLE_*.")] = None,
) -> None:
    """Serve the proctor review console: live decisions and the review queue."""
    from dashboard import serve

    serve(host, port, console_config=console_config)
