"""The ``examgate`` command: one entry point, a subcommand per job.

This module is the composition root, the only one that imports applications
(producers, stream processors, simulator, trainer, console, benchmarks, the
local stack). Each is imported when its subcommand runs, never at load, so
``examgate process`` loads no console, simulator or PyTorch code.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from examgate.core.logs import configure_logging

if TYPE_CHECKING:
    # Typer vendors Click; its group methods take and return the vendored classes.
    from typer._click.core import Command, Context

# Subcommands defined inside applications: name -> (module, attribute). The attribute is a
# Typer app (a group of commands) or a function to register as one command.
# Commands that drive load through the whole system; they run on the local stack, started
# first unless settings.stack.autostart is off (real clusters).
# (By group: `examgate api` serves, `examgate bench api` drives load.)
ON_LOCAL_STACK = {"demo", "simulate"}
BENCH_ON_LOCAL_STACK = {"e2e", "scaleout", "chaos", "api", "release", "templates"}
TOP_LEVEL = {
    "stack": ("devstack.cli", "app"),
    "process": ("stream_processors.cli", "process"),
    "gate": ("producers.cli", "gate"),
    "enroll": ("producers.cli", "enroll"),
    "embed": ("examgate.vision.cli", "embed"),
    "analyse": ("examgate.models.analyse", "analyse"),
    "evaluate": ("examgate.models.evaluate_cli", "evaluate"),
    "console": ("dashboard.cli", "console"),
    "api": ("http_api.cli", "api"),
    "api-token": ("http_api.cli", "api_token"),
    "demo": ("simulator.cli", "demo"),
    "simulate": ("simulator.cli", "simulate"),
    "retrain": ("trainer.cli", "retrain"),
}
BENCHMARKS = {
    "lfw": ("benchmarks.lfw", "lfw"),
    "pad": ("benchmarks.pad", "pad"),
    "e2e": ("simulator.bench_e2e", "e2e"),
    "scaleout": ("simulator.bench_scaleout", "scaleout"),
    "chaos": ("simulator.chaos", "chaos"),
    "api": ("simulator.bench_api", "api_bench"),
    "release": ("simulator.release", "release"),
    "templates": ("benchmarks.templates", "templates"),
}


def _after_local_stack(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback``, run once the local stack is up (when settings.stack.autostart)."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from examgate.core.settings import load_settings

        settings = load_settings()
        if settings.stack.autostart:
            import devstack

            from examgate.models.bootstrap import calibration_embeddings

            # Calibrating needs no service: on a first run it overlaps the stack's installs
            # (the MinIO build) instead of following them. A failure here is only logged:
            # bootstrap calibrates again, and says why, if it still needs to.
            with ThreadPoolExecutor(1, thread_name_prefix="calibration") as pool:
                warm = pool.submit(calibration_embeddings, settings)
                devstack.up(settings)
                if (error := warm.exception()) is not None:
                    logging.getLogger("examgate.cli").warning(
                        "calibration ahead of the stack failed: %s", error)
        return callback(*args, **kwargs)

    return run


def _lazy_group(commands: dict[str, tuple[str, str]],
                on_local_stack: set[str]) -> type[TyperGroup]:
    """A Click group that imports a subcommand's module only when that subcommand is used
    (or when help lists it), the way Click documents lazy subcommands."""

    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: Context) -> list[str]:
            # An application left out of this install (the serving image ships no
            # simulator or trainer) is not offered.
            present = {name for name, (module, _) in commands.items()
                       if importlib.util.find_spec(module.split(".")[0]) is not None}
            return sorted(set(super().list_commands(ctx)) | present)

        def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
            if cmd_name not in commands:
                return super().get_command(ctx, cmd_name)
            module, attr = commands[cmd_name]
            if importlib.util.find_spec(module.split(".")[0]) is None:
                return None  # Click answers "No such command"
            target: Any = getattr(importlib.import_module(module), attr)
            if not isinstance(target, typer.Typer):
                single = typer.Typer()
                single.command(cmd_name)(target)
                target = single
            command = typer.main.get_command(target)
            command.name = cmd_name
            if cmd_name in on_local_stack and command.callback is not None:
                command.callback = _after_local_stack(command.callback)
            return command

    return LazyGroup


app = typer.Typer(
    name="examgate",
    cls=_lazy_group(TOP_LEVEL, ON_LOCAL_STACK),
    help=(
        "ExamGate: face verification at the exam-hall gate.\n\n"
        "A student scans an ID card and looks at the camera; ExamGate answers ACCEPT, "
        "REVIEW (a proctor looks) or REJECT, with a reason. Settings come from EXAMGATE_* "
        "environment variables and an optional --config file (YAML or TOML)."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

models_app = typer.Typer(help="The face-model registry (MLflow): bootstrap, list, promote.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
bench_app = typer.Typer(cls=_lazy_group(BENCHMARKS, BENCH_ON_LOCAL_STACK), no_args_is_help=True,
                        help="Benchmarks that print numbers and write them to results/.")
app.add_typer(bench_app, name="bench")


@models_app.command("bootstrap")
def models_bootstrap(
    force: Annotated[bool, typer.Option(help="Register a new version even if a champion "
                                             "exists.")] = False,
) -> None:
    """Register the bundled YuNet + SFace as the champion, thresholds calibrated on LFW View 1."""
    from examgate.core.settings import load_settings
    from examgate.models.bootstrap import bootstrap

    version = bootstrap(load_settings(), force=force)
    typer.echo(f"champion is version {version}")


@models_app.command("keygen")
def models_keygen() -> None:
    """Print a new key pair for signing model versions: the private key goes into the
    trainer's Secret (mlflow.signing_key), the public one into the servers'
    mlflow.trusted_keys (the ConfigMap examgate-model-keys)."""
    import base64
    import os

    from examgate.core.signing import ModelSigner

    private = base64.b64encode(os.urandom(32)).decode()
    typer.echo(f"signing-key (secret): {private}")
    typer.echo(f"trusted-key (public): {ModelSigner.from_base64(private).public_key}")


@models_app.command("list")
def models_list() -> None:
    """Registered versions with their aliases and thresholds."""
    from rich.console import Console
    from rich.table import Table

    from examgate.adapters import factory as ports
    from examgate.core.settings import load_settings

    s = load_settings()
    reg = ports.model_registry(s)
    by_version: dict[str, list[str]] = {}
    for alias, version in reg.aliases().items():
        by_version.setdefault(str(version), []).append(alias)
    table = Table(title=f"{s.mlflow.registered_model} at {s.mlflow.tracking_uri}")
    for col in ("version", "aliases", "detector", "embedder", "thresholds"):
        table.add_column(col)
    for mv in reg.client.search_model_versions(f"name='{s.mlflow.registered_model}'"):
        table.add_row(str(mv.version), ", ".join(by_version.get(str(mv.version), [])),
                      mv.tags.get("detector", ""), mv.tags.get("embedder", ""),
                      mv.tags.get("thresholds", ""))
    Console().print(table)


@models_app.command("stage")
def models_stage(
    version: Annotated[str, typer.Argument(help="Version number (or alias) that was staged.")],
    e2e: Annotated[Path, typer.Option(exists=True, dir_okay=False, help=(
        "`examgate bench e2e --json` written against staging, the version as champion."))],
    api: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help=(
        "`examgate bench api --json` from the same staging run, if the API is used."))] = None,
) -> None:
    """Judge staging's benchmark results for VERSION against settings.release's bounds and
    tag it staging=passed or failed (required before `models canary` in production).

    The results must come from this very model (its fingerprint, the SHA-256 of its spec,
    is in the JSON). Exit code 0 passed, 3 failed.
    """
    import json

    from examgate.core.settings import load_settings
    from examgate.models.staging import stage

    verdict = stage(load_settings(), version, json.loads(e2e.read_text()),
                    json.loads(api.read_text()) if api else None)
    typer.echo(("passed: " if verdict.passed else "failed: ") + "; ".join(verdict.reasons))
    raise typer.Exit(0 if verdict.passed else 3)


@models_app.command("canary")
def models_canary(
    version: Annotated[str, typer.Argument(help="Version number (or alias) to try.")],
    fraction: Annotated[float | None, typer.Option(help=(
        "Share of gates that decide with it (0 = shadow scoring only; default "
        "release.canary_fraction)."))] = None,
    auto: Annotated[bool, typer.Option(help=(
        "Stay and judge the canary every --interval: promote it when it does better, roll "
        "it back when it does worse, retire it after --max-duration without a "
        "difference."))] = False,
    interval: Annotated[float | None, typer.Option(help=(
        "Seconds between analyses with --auto (default release.canary_interval_s)."))] = None,
    max_duration: Annotated[float | None, typer.Option(help=(
        "Longest canary in seconds with --auto (default release.canary_max_s)."))] = None,
) -> None:
    """Re-embed templates for VERSION, make it the challenger and announce it to processors.

    With --auto: exit code 0 promoted, 3 rolled back, 4 retired (no difference shown, or
    the canary could not be judged), 5 ended because someone else moved the challenger.
    """
    from datetime import UTC, datetime

    from examgate.core.settings import load_settings
    from examgate.models.canary_analysis import PROMOTE, ROLLBACK
    from examgate.models.canary_auto import ENDED, rules_from, run_auto_canary
    from examgate.models.promotion import canary

    s = load_settings()
    began = datetime.now(UTC)
    report = canary(s, version, s.release.canary_fraction if fraction is None else fraction)
    typer.echo(f"challenger is version {report.version}: {report.built} template(s), "
               f"{len(report.failed)} student(s) without a usable photo")
    if not auto:
        return
    result = run_auto_canary(s, report.version, rules=rules_from(s), since=began,
                             interval_s=interval or s.release.canary_interval_s,
                             max_s=max_duration or s.release.canary_max_s)
    typer.echo(f"canary of version {result.version} ended after {result.analyses} "
               f"analyses ({result.elapsed_s:.0f} s): {result.action}: "
               + "; ".join(result.reasons))
    raise typer.Exit({PROMOTE: 0, ROLLBACK: 3, ENDED: 5}.get(result.action, 4))


@models_app.command("retire")
def models_retire(
    version: Annotated[str | None, typer.Argument(
        help="The challenger's version (default: whichever is the challenger).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the registry and the log.")] = "",
) -> None:
    """End a canary without promoting it: processors drop the challenger."""
    from examgate.core.settings import load_settings
    from examgate.models.promotion import retire

    typer.echo(f"version {retire(load_settings(), version, reason)} no longer runs as canary")


@models_app.command("analyse")
def models_analyse(
    version: Annotated[str | None, typer.Argument(
        help="The version to judge (default: the challenger).")] = None,
    min_checkins: Annotated[int, typer.Option(help="Paired check-ins needed to judge.")] = 500,
    min_verdicts: Annotated[int, typer.Option(help="Proctor verdicts needed to judge.")] = 20,
    max_latency_ratio: Annotated[float, typer.Option(
        help="Slower than the champion's p95 latency by more than this: roll back.")] = 1.5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write it here.")] = None,
) -> None:
    """Did the canary do better? Promote, roll back or wait, with 95% intervals.

    Compares the challenger with the champion on the same check-ins (each decision
    carries the other model's shadow outcome) and the proctors' verdicts; the rules are
    in examgate/models/canary_analysis.py. Exit code 0 promote, 3 roll back, 4 wait.
    """
    import json

    from examgate.core.settings import load_settings
    from examgate.models.canary_analysis import PROMOTE, ROLLBACK, CanaryRules
    from examgate.models.promotion import analyse

    rules = CanaryRules(min_checkins, min_verdicts, max_latency_ratio)
    evidence, verdict = analyse(load_settings(), version, rules)
    record = {"action": verdict.action, "reasons": list(verdict.reasons),
              "paired": evidence.paired, "agreed": evidence.agreed,
              "verdicts": evidence.verdicts,
              "review_difference_ci": evidence.review_difference(rules.confidence),
              "champion": evidence.champion.as_record(rules.confidence),
              "challenger": evidence.challenger.as_record(rules.confidence)}
    typer.echo(json.dumps(record, indent=2, default=str))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(record, indent=2, default=str))
    raise typer.Exit({PROMOTE: 0, ROLLBACK: 3}.get(verdict.action, 4))


@models_app.command("promote")
def models_promote(
    version: Annotated[str | None, typer.Argument(
        help="Version to promote (default: the challenger).")] = None,
) -> None:
    """Make the challenger the champion; processors reload it without a restart."""
    from examgate.core.settings import load_settings
    from examgate.models.promotion import promote

    typer.echo(f"champion is version {promote(load_settings(), version)}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Return the champion to the version before the last promotion."""
    from examgate.core.settings import load_settings
    from examgate.models.promotion import rollback

    typer.echo(f"champion is version {rollback(load_settings())} again")


@app.callback()
def _main(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Settings file (YAML or TOML); env vars override it.",
        envvar="EXAMGATE_CONFIG", exists=True, dir_okay=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Set up logging and remember the settings file for subcommands."""
    import os

    configure_logging(verbose)
    if config is not None:
        os.environ["EXAMGATE_CONFIG"] = str(config)


def main() -> None:
    """Console-script entry point."""
    from examgate.core.settings import SettingsError

    try:
        app()
    except SettingsError as exc:  # a configuration mistake: say what, no traceback
        typer.echo(f"examgate: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
