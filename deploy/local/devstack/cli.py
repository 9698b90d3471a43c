"""``examgate stack up | down | kill | status``: run the local services."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from examgate.core.settings import Settings, load_settings

from .base import StackError
from .lifecycle import SERVICE_NAMES, ServiceStatus, down, kill, status, up

app = typer.Typer(
    help=(
        "Run the local stack: Kafka (KRaft), Redis, MinIO (S3) and the MLflow tracking server, "
        "as processes on 127.0.0.1. Data, logs and PID files live under the state folder "
        "(.state/ by default); downloads and builds are cached under ~/.cache/examgate."
    ),
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (YAML or TOML); default $EXAMGATE_CONFIG."),
]
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(help=f"Services to act on (default: all). Known: {', '.join(SERVICE_NAMES)}.",
                   show_default=False),
]


def _settings(config: Path | None) -> Settings:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return load_settings(config)


def _print_table(rows: list[ServiceStatus]) -> None:
    table = Table(title="ExamGate local stack")
    for col in ("service", "address", "health", "pid", "detail"):
        table.add_column(col)
    for r in rows:
        health = "[green]healthy[/]" if r.healthy else "[red]down[/]"
        pid = str(r.pid) if r.pid else ("external" if r.healthy else "-")
        table.add_row(r.name, r.address, health, pid, r.detail)
    Console().print(table)


@app.command("up")
def up_cmd(services: ServicesArg = None, config: ConfigOpt = None) -> None:
    """Install what is missing, start every service that is not healthy, create topics and buckets.

    Safe to run again: healthy services are left alone. The first run downloads
    Kafka's jars and builds MinIO (several minutes); later runs take seconds.
    """
    settings = _settings(config)
    try:
        rows = up(settings, services)
    except StackError as exc:
        typer.secho(f"stack up failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    _print_table(rows)


@app.command("down")
def down_cmd(services: ServicesArg = None, config: ConfigOpt = None) -> None:
    """Stop the services this stack started (SIGTERM, then SIGKILL after a grace period).

    Servers not started by `stack up` are left running. Data stays under the
    state folder, so a later `stack up` finds it again.
    """
    settings = _settings(config)
    try:
        down(settings, services)
    except StackError as exc:
        typer.secho(f"stack down failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command("kill")
def kill_cmd(services: Annotated[list[str], typer.Argument(
        help=f"Services to kill. Known: {', '.join(SERVICE_NAMES)}.", show_default=False)],
             config: ConfigOpt = None) -> None:
    """Kill services with SIGKILL, as a crash would: a fault drill (`stack up` restarts them).

    Exit code 1 when one of them was not running as a server this stack started.
    """
    settings = _settings(config)
    try:
        killed = kill(settings, services)
    except StackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    for name, pid in killed.items():
        typer.echo(f"{name}: " + (f"killed pid {pid}" if pid else "not running as ours"))
    if not all(killed.values()):
        raise typer.Exit(1)


@app.command("status")
def status_cmd(services: ServicesArg = None, config: ConfigOpt = None) -> None:
    """Show each service's address, health and PID; exit code 1 if any is unhealthy."""
    settings = _settings(config)
    try:
        rows = status(settings, services)
    except StackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    _print_table(rows)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
