"""The ``examgate`` command: one entry point, a subcommand per job.

This module is the composition root: it only wires subcommands together and
imports each application lazily, so ``examgate --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchmarks import e2e as bench_e2e
from benchmarks import lfw as bench_lfw
from benchmarks import scaleout as bench_scaleout
from examgate import cli_streaming
from examgate.logs import configure_logging
from examgate.stack.cli import app as stack_app
from examgate.vision import cli as vision_cli

app = typer.Typer(
    name="examgate",
    help=(
        "ExamGate: face verification at the exam-hall gate.\n\n"
        "A student scans an ID card and looks at the camera; ExamGate answers ACCEPT, "
        "REVIEW (a proctor looks) or REJECT, with a reason. Settings come from EXAMGATE_* "
        "environment variables and an optional --config file (YAML or TOML)."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_app, name="stack")

models_app = typer.Typer(help="The face-model registry (MLflow): bootstrap, list, promote.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
bench_app = typer.Typer(help="Benchmarks that print numbers and write them to results/.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")

app.command("process")(cli_streaming.process)
app.command("gate")(cli_streaming.gate)
app.command("enroll")(cli_streaming.enroll)
app.command("embed")(vision_cli.embed)
bench_app.command("lfw")(bench_lfw.lfw)
bench_app.command("e2e")(bench_e2e.e2e)
bench_app.command("scaleout")(bench_scaleout.scaleout)


@models_app.command("bootstrap")
def models_bootstrap(
    force: Annotated[bool, typer.Option(help="Register a new version even if a champion "
                                             "exists.")] = False,
) -> None:
    """Register the bundled YuNet + SFace as the champion, thresholds calibrated on LFW View 1."""
    from examgate.bootstrap import bootstrap
    from examgate.settings import load_settings

    version = bootstrap(load_settings(), force=force)
    typer.echo(f"champion is version {version}")


@models_app.command("list")
def models_list() -> None:
    """Registered versions with their aliases and thresholds."""
    from rich.console import Console
    from rich.table import Table

    from examgate import ports
    from examgate.settings import load_settings

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


@models_app.command("canary")
def models_canary(
    version: Annotated[str, typer.Argument(help="Version number (or alias) to try.")],
    fraction: Annotated[float, typer.Option(
        help="Share of gates that decide with it (0 = shadow scoring only).")] = 0.1,
) -> None:
    """Re-embed templates for VERSION, make it the challenger and announce it to processors."""
    from examgate.promotion import canary
    from examgate.settings import load_settings

    report = canary(load_settings(), version, fraction)
    typer.echo(f"challenger is version {report.version}: {report.built} template(s), "
               f"{len(report.failed)} student(s) without a usable photo")


@models_app.command("promote")
def models_promote(
    version: Annotated[str | None, typer.Argument(
        help="Version to promote (default: the challenger).")] = None,
) -> None:
    """Make the challenger the champion; processors reload it without a restart."""
    from examgate.promotion import promote
    from examgate.settings import load_settings

    typer.echo(f"champion is version {promote(load_settings(), version)}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Return the champion to the version before the last promotion."""
    from examgate.promotion import rollback
    from examgate.settings import load_settings

    typer.echo(f"champion is version {rollback(load_settings())} again")


@app.command("console")
def console(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    console_config: Annotated[Path | None, typer.Option(
        help="Console settings file (users, session secret); env EXAMGATE_CONSOLE_*.")] = None,
) -> None:
    """Serve the proctor review console: live decisions and the review queue."""
    from dashboard import serve

    serve(host, port, console_config=console_config)


@app.command("retrain")
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
    from examgate.settings import load_settings
    from trainer.loop import retrain as run_retrain

    result = run_retrain(load_settings(), config, steps=steps, feedback=feedback,
                         targets=target or None, dry_run=dry_run)
    where = f" (MLflow run {result.run_id})" if result.run_id else ""
    if result.registered:
        typer.echo(f"registered version {result.version} as {result.alias}{where}")
    else:
        typer.echo(f"{result.status}: {result.reason}{where}")
    # Exit 3 when a gate refused the candidate, so schedulers can tell it from a crash.
    raise typer.Exit(0 if result.status in ("registered", "passed") else 3)


@app.command("demo")
def demo(
    students: Annotated[int, typer.Option(help="Students to enroll (LFW identities).")] = 500,
    gates: Annotated[int, typer.Option(help="Simulated gates.")] = 4,
    workers: Annotated[int, typer.Option(help="Processor workers.")] = 1,
    rate: Annotated[float, typer.Option(help="Check-ins per second.")] = 8.0,
    impostors: Annotated[float, typer.Option(help="Impostor check-ins per student.")] = 0.10,
    unenrolled: Annotated[float, typer.Option(help="Unenrolled visitors per student.")] = 0.05,
    no_face: Annotated[float, typer.Option(help="Face-less frames per student.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same check-ins).")] = 7,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the summary.")] =
        Path("results/demo.json"),
    report_dir: Annotated[Path | None, typer.Option(
        "--report", help="Also write the HTML/CSV evaluation report here.")] = None,
) -> None:
    """The main job: a simulated exam check-in through the whole local stack.

    Starts the local stack if needed, registers the model, enrolls the cohort,
    replays check-ins through the gates and prints outcomes, false accepts and
    rejects, latency and throughput.
    """
    from examgate.settings import load_settings
    from simulator.demo import DemoConfig, run_demo

    cfg = DemoConfig(students=students, gates=gates, workers=workers, rate=rate,
                     impostors=impostors, unenrolled=unenrolled, no_face=no_face, seed=seed)
    summary = run_demo(load_settings(), cfg, json_out, report_dir)
    raise typer.Exit(0 if summary["decided"] == summary["check_ins"] else 1)


@app.command("simulate")
def simulate(
    scenario: Annotated[str, typer.Argument(
        help="Scenario YAML file, or the name of a bundled one (smoke, exam-day, stress).")],
    report: Annotated[Path, typer.Option(help="Folder for report.json, report.html, rows.csv.")
                      ] = Path("out"),
    workers: Annotated[int, typer.Option(help="Processor workers.")] = 1,
) -> None:
    """Replay an exam-day scenario through the running system and write the evaluation report.

    False-accept and false-reject rates (95% Wilson intervals) per condition and
    gender slice, REVIEW rates, reasons, latency, throughput and lag; the run is
    also logged to MLflow.
    """
    from examgate.settings import load_settings
    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    rep, rows = run_scenario(load_settings(), load_scenario(scenario), report, workers)
    raise typer.Exit(0 if all(r.outcome is not None for r in rows) else 1)


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
    app()


if __name__ == "__main__":
    main()
