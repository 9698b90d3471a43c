"""``python -m dashboard``: run the proctor review console, or make a password hash for it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="dashboard",
    help=(
        "The ExamGate proctor review console (web).\n\n"
        "Proctors watch decisions live per exam and gate, and give a verdict on every "
        "REVIEW decision (and every REJECT they dispute) with the captured frame beside the "
        "enrolled photo. ExamGate settings come from EXAMGATE_* variables and --config; the "
        "console's own (users, session secret) from EXAMGATE_CONSOLE_* variables and "
        "--console-config."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


SERVE_EXAMPLE = (
    "Example:\n\n"
    "  export EXAMGATE_CONSOLE_SESSION_SECRET=$(python -c 'import secrets; "
    "print(secrets.token_urlsafe(32))')\n\n"
    "  export EXAMGATE_CONSOLE_USERS='[{\"username\": \"pat\", \"role\": \"proctor\", "
    "\"exams\": [\"MATH101-*\"], "
    "\"password_hash\": \"'$(python -m dashboard hash-password)'\"}]'\n\n"
    "  python -m dashboard serve --port 8080"
)


@app.command("serve", epilog=SERVE_EXAMPLE)
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every "
                                           "interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    config: Annotated[Path | None, typer.Option(
        help="ExamGate settings file (YAML or TOML); default $EXAMGATE_CONFIG.")] = None,
    console_config: Annotated[Path | None, typer.Option(
        help="Console settings file (YAML or TOML) with users and session_secret; default "
             "$EXAMGATE_CONSOLE_CONFIG.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Serve the console: live decisions at /live, the review queue at /review."""
    from .server import serve
    from .settings import ConsoleSettingsError

    try:
        serve(host, port, config=config, console_config=console_config, verbose=verbose)
    except ConsoleSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("hash-password")
def hash_password_command(
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from the first "
                                                        "line of standard input.")] = False,
) -> None:
    """Print an Argon2 hash of a password, for a user's password_hash."""
    from .auth import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        # Prompts go to stderr, so `$(python -m dashboard hash-password)` captures the hash only.
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    if not password:
        typer.echo("error: the password is empty", err=True)
        raise typer.Exit(2)
    typer.echo(hash_password(password))


if __name__ == "__main__":
    app()
