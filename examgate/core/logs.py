"""Logging set-up shared by every command: plain, timestamped, one line per event."""

from __future__ import annotations

import logging
import os


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr at INFO (DEBUG with ``verbose``), level overridable by EXAMGATE_LOG_LEVEL."""
    level = os.environ.get("EXAMGATE_LOG_LEVEL", "DEBUG" if verbose else "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Library chatter drowns the lines an operator needs.
    for noisy in ("kafka", "urllib3", "botocore", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
