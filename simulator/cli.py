"""``examgate demo`` and ``examgate simulate``: exam check-ins replayed through the stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    from examgate.core.settings import load_settings
    from simulator.demo import DemoConfig, run_demo

    cfg = DemoConfig(students=students, gates=gates, workers=workers, rate=rate,
                     impostors=impostors, unenrolled=unenrolled, no_face=no_face, seed=seed)
    summary = run_demo(load_settings(), cfg, json_out, report_dir)
    raise typer.Exit(0 if summary["decided"] == summary["check_ins"] else 1)


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
    from examgate.core.settings import load_settings
    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    rep, rows = run_scenario(load_settings(), load_scenario(scenario), report, workers)
    raise typer.Exit(0 if all(r.outcome is not None for r in rows) else 1)
