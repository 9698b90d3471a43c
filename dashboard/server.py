"""Runs the console under uvicorn: read settings once, connect the real ports, serve."""

from __future__ import annotations

import logging
from pathlib import Path

from examgate.core.logs import configure_logging
from examgate.core.settings import load_settings

from .settings import load_console_settings

log = logging.getLogger("examgate.console")


def serve(host: str = "127.0.0.1", port: int = 8080, *, config: str | Path | None = None,
          console_config: str | Path | None = None, verbose: bool = False) -> None:
    """Run the console until interrupted (settings from env and the optional files)."""
    import uvicorn

    from .app import create_app
    from .wiring import console_ports

    configure_logging(verbose)
    settings = load_settings(config)
    console = load_console_settings(console_config)
    if not console.users:
        log.warning("console: no users are configured, so nobody can log in; set "
                    "EXAMGATE_CONSOLE_USERS or users: in the console settings file")
    unscoped = [u.username for u in console.users if not u.exams]
    if unscoped:
        log.warning("console: %s can log in but see no exam (no exams configured); give "
                    "each user exams (shell patterns, \"*\" for every exam)", ", ".join(unscoped))
    app = create_app(settings, console, console_ports(settings, console.lookback_hours))
    log.info("console: listening on http://%s:%d", host, port)
    # Open event streams would otherwise hold a shutdown until every browser goes away.
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=3,
                proxy_headers=True, server_header=False)
