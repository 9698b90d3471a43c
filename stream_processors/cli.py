"""``examgate process``: one stream-processor worker."""

from __future__ import annotations

from typing import Annotated

import typer

from examgate.core.settings import load_settings


def process(
    slices: Annotated[str, typer.Option(
        help="Comma-separated slices this worker runs: verify, enroll.")] = "verify,enroll",
    metrics_port: Annotated[int, typer.Option(
        help="Prometheus /metrics port on 127.0.0.1 (0 turns it off).")] = 9400,
    worker_id: Annotated[str | None, typer.Option(
        help="Name in logs and decisions (default: host-pid).")] = None,
    metrics_host: Annotated[str, typer.Option(
        help="Address the metrics endpoint listens on (0.0.0.0 in a container).")] =
        "127.0.0.1",
) -> None:
    """Run a stream-processor worker until stopped with Ctrl-C or SIGTERM.

    Start up to as many workers as the check-in topic has partitions; they share
    the work as one consumer group, decide each check-in exactly once (Kafka
    transactions) and reload models on ModelChanged events. Give each worker a
    stable --worker-id so that a restarted worker fences its dead predecessor.
    """
    from stream_processors.main import run_worker

    chosen = tuple(s.strip() for s in slices.split(",") if s.strip())
    unknown = set(chosen) - {"verify", "enroll"}
    if unknown:
        raise typer.BadParameter(f"unknown slice(s): {', '.join(sorted(unknown))}")
    run_worker(load_settings(), chosen, metrics_port, worker_id, metrics_host)
