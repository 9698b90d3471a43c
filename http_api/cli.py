"""``examgate api`` and ``examgate api-token``: serve the HTTP API, or make a client token."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated

import typer


def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    api_config: Annotated[Path | None, typer.Option(
        help="API settings file (clients, limits); env EXAMGATE_API_*.")] = None,
) -> None:
    """Serve check-ins and face comparisons over HTTP (OpenAPI docs at /docs).

    Expects TLS at the ingress in front of it; clients authenticate with the bearer
    tokens whose hashes are in EXAMGATE_API_TOKENS (see `examgate api-token`).
    """
    import uvicorn

    from examgate.core.settings import load_settings
    from http_api.app import create_app
    from http_api.settings import load_api_settings
    from http_api.wiring import build_context

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: "
                        "%(message)s", datefmt="%H:%M:%S")
    api_settings = load_api_settings(api_config)
    if not api_settings.tokens:
        logging.getLogger("examgate.api").warning(
            "no clients configured (EXAMGATE_API_TOKENS): every request will be refused")
    ctx, stop = build_context(load_settings(), api_settings)
    try:
        uvicorn.run(create_app(ctx), host=host, port=port, log_level="info")
    finally:
        stop()


def api_token(
    client_id: Annotated[str, typer.Argument(help="The client's id, e.g. kiosk-hall-a.")],
    exam: Annotated[list[str], typer.Option(help="Exam id pattern it may serve (repeat).")],
    gate: Annotated[list[str], typer.Option(help="Gate id pattern it may speak for (repeat).")],
) -> None:
    """Make a new bearer token: give the token to the client, put the JSON line (its hash
    and scopes) into EXAMGATE_API_TOKENS. The token is shown once and stored nowhere."""
    import json

    from http_api.settings import ApiClient, token_hash

    token = secrets.token_urlsafe(32)
    entry = ApiClient(id=client_id, token_sha256=token_hash(token), exams=tuple(exam),
                      gates=tuple(gate))
    typer.echo(f"token (give to the client, once): {token}")
    typer.echo(f"settings entry: {json.dumps(entry.model_dump(mode='json'))}")
