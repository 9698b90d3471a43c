"""``examgate retrain``: the whole retraining loop as one command."""

from __future__ import annotations

from typing import Annotated

import typer


def retrain(
    config: Annotated[str, typer.Option(help="Trainer config (trainer/config/NAME.py).")] =
        "sface_finetune",
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the config's).")]
        = None,
    feedback: Annotated[bool, typer.Option(
        help="Build a new feedback dataset version from the proctors' verdicts and train on "
             "it.")] = True,
    target: Annotated[list[str] | None, typer.Option(
        help="A condition the run is for (repeatable; default: from the feedback).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Everything but registering.")] = False,
) -> None:
    """The whole loop: feedback dataset, fine-tune from the champion, export and check ONNX,
    recalibrate, evaluate against the champion, gate, and register a challenger or say which
    gate failed (exit code 3). Tracked as one MLflow run."""
    from examgate.core.settings import load_settings
    from trainer.loop import RetrainRequest
    from trainer.loop import retrain as run_retrain

    request = RetrainRequest(config, steps=steps, feedback=feedback,
                             targets=tuple(target) if target else None, dry_run=dry_run)
    result = run_retrain(load_settings(), request)
    where = f" (MLflow run {result.run_id})" if result.run_id else ""
    if result.registered:
        typer.echo(f"registered version {result.version} as {result.alias}{where}")
    else:
        typer.echo(f"{result.status}: {result.reason}{where}")
    # Exit 3 when a gate refused the candidate, so schedulers can tell it from a crash.
    raise typer.Exit(0 if result.status in ("registered", "passed") else 3)
