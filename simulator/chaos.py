"""``examgate bench chaos``: crash the stack's parts under load and count what it cost.

The faults and how each is measured: :mod:`simulator.chaos_faults`; the poison corpus:
:mod:`simulator.chaos_poison`.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, load_settings
from simulator.chaos_faults import (
    EXAM,
    FAULTS,
    GATES,
    Chaos,
    FaultResult,
    run_fault,
    stack,
)
from simulator.chaos_poison import run_poison
from simulator.driver import (
    DecisionCollector,
    Workers,
    enroll_cohort,
    scoped_env,
    wait_for_group,
)

log = logging.getLogger("examgate.bench.chaos")


def _worker_env() -> AbstractContextManager[None]:
    """The chaos gates send single frames, and only they may check in for the chaos exam."""
    return scoped_env({"EXAMGATE_CHECKIN__SINGLE_FRAME_GATES": json.dumps([GATES]),
                       "EXAMGATE_CHECKIN__EXAM_GATES": json.dumps({EXAM: [GATES]})})


def cohort(settings: Settings, students: int) -> list[tuple[str, bytes, bytes]]:
    """LFW people outside the calibration set with two photos: enrolled one, probe the other."""
    from examgate.models import lfw
    from examgate.models.bootstrap import calibration_identities

    excluded = calibration_identities(settings.data.lfw_dir)
    people = sorted((n, imgs) for n, imgs in lfw.people(settings.data.lfw_dir).items()
                    if len(imgs) >= 2 and n not in excluded)[:students]
    return [(n, Path(imgs[0]).read_bytes(), Path(imgs[1]).read_bytes()) for n, imgs in people]


def run_chaos(settings: Settings, faults: tuple[str, ...], *, rate: float, phase_s: float,
              down_s: float, workers: int, students: int = 24) -> list[FaultResult]:
    """Start workers, enroll a cohort, and run each fault's phase in turn."""
    from examgate.models.bootstrap import bootstrap

    version = bootstrap(settings)
    people = cohort(settings, students)
    results: list[FaultResult] = []
    logs = settings.stack.state_dir / "logs" / "chaos"
    with _worker_env(), Workers(settings, workers, logs, first_metrics_port=9560,
                                        restart=True) as running:
        wait_for_group(settings, workers)
        enroll_cohort(settings, [(n, [a]) for n, a, _ in people], version)
        collector = DecisionCollector(settings, EventCodec())
        collector.start()
        if not collector.ready.wait(60):
            raise TimeoutError("the decision reader got no partitions in 60 s")
        chaos = Chaos(settings, running, collector, people, rate, phase_s, down_s)
        try:
            for i, fault in enumerate(faults):
                results.append(run_poison(chaos, offset=i * 5) if fault == "poison"
                               else run_fault(chaos, fault, offset=i * 5))
                log.info("chaos: %s", asdict(results[-1]))
                stack("up")  # whatever the fault left down is up again before the next
                wait_for_group(settings, workers)
        finally:
            collector.stop()
            stack("up")
    return results


def print_table(results: list[FaultResult], title: str) -> None:
    """The chaos table: one row per fault."""
    table = Table(title=title)
    for col in ("fault", "check-ins", "lost", "duplicated", "wrong ACCEPT", "recovery s",
                "down s", "restarts", "REVIEW w/o frame", "fail-closed decisions"):
        table.add_column(col, justify="left" if col == "fault" else "right")
    for r in results:
        table.add_row(r.fault, str(r.checkins), str(r.lost), str(r.duplicated),
                      str(r.wrong_accept), "-" if r.recovery_s is None else f"{r.recovery_s:.1f}",
                      f"{r.down_s:.1f}", str(r.restarts), str(r.reviews_without_frame),
                      ", ".join(f"{k} {v}" for k, v in sorted(r.fail_closed.items())) or "-")
    Console(width=150).print(table)
    for r in results:
        for p in r.poison:
            typer.echo(f"  poison: {p['entry']}: {p['became']}")


def chaos(
    faults: Annotated[list[str] | None, typer.Option(
        "--fault", help=f"Faults to run, in order (repeat the option; default all: "
                        f"{', '.join(FAULTS)}).")] = None,
    rate: Annotated[float, typer.Option(help="Check-ins per second during each phase.")] = 10.0,
    phase: Annotated[float, typer.Option(help=(
        "Seconds of check-ins per fault; the fault starts 6 s in, so keep the phase longer "
        "than 6 s + --down + a restart (the broker's takes 10-20 s)."))] = 45.0,
    down: Annotated[float, typer.Option(help="Seconds a killed service stays down.")] = 10.0,
    workers: Annotated[int, typer.Option(help="Processor workers (a consumer group).")] = 2,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the table.")] =
        Path("results/chaos.json"),
) -> None:
    """Kill a worker, the broker, Redis, MinIO and MLflow under load, and send poison;
    print check-ins lost, duplicated, wrongly accepted and the time to recover.

    Runs on the local stack (started first); each killed service is started again from
    the data it left. Exit code 1 if any fault lost, duplicated or wrongly accepted a
    check-in, or a poison entry stopped a worker or went unanswered.
    """
    chosen = tuple(faults or FAULTS)
    unknown = set(chosen) - set(FAULTS)
    if unknown:
        raise typer.BadParameter(f"unknown fault(s) {sorted(unknown)}; known: {FAULTS}")
    results = run_chaos(load_settings(), chosen, rate=rate, phase_s=phase, down_s=down,
                        workers=workers)
    print_table(results, f"bench chaos: {rate:g} check-ins/s, {workers} worker(s), "
                         f"services down {down:g} s")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps({"rate": rate, "phase_s": phase, "down_s": down,
                                    "workers": workers,
                                    "faults": [asdict(r) for r in results]}, indent=2))
    typer.echo(f"written to {json_out}")
    bad = [r.fault for r in results if r.lost or r.duplicated or r.wrong_accept
           or (r.fault == "poison" and r.restarts)]
    raise typer.Exit(1 if bad else 0)
