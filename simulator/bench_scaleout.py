"""``examgate bench scaleout``: throughput of the processors' consumer group as workers are added.

Each step offers more check-ins than the group can take, so the decided rate is
the group's capacity with that many workers on this machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from examgate.core.settings import load_settings
from simulator.bench_e2e import run_e2e


def capacity_model(rows: list[dict[str, Any]], cores: int) -> dict[str, float]:
    """Check-ins per second per worker and per core, from the best measured step."""
    best = max(rows, key=lambda r: r["throughput_per_s"] or 0)
    per_worker = max((r["throughput_per_s"] or 0) / r["workers"] for r in rows)
    return {"best_throughput_per_s": best["throughput_per_s"], "best_workers": best["workers"],
            "per_worker_per_s": per_worker, "per_core_per_s": best["throughput_per_s"] / cores}


def scaleout(
    workers: Annotated[str, typer.Option(help="Worker counts to try, comma-separated.")] =
        "1,2,3",
    rate: Annotated[float, typer.Option(help="Offered check-ins/s (above capacity).")] = 60.0,
    duration: Annotated[float, typer.Option(help="Seconds of load per step.")] = 30.0,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the table.")] =
        Path("results/scaleout.json"),
) -> None:
    """Saturating load with 1, 2, 3... workers: decided check-ins/s and latency per step."""
    settings = load_settings()
    rows = []
    for n in (int(x) for x in workers.split(",")):
        r = run_e2e(settings, rate, duration, n, students=100, gates=12, seed=11)
        r.pop("lag_series", None)
        rows.append(r)
    cores = os.cpu_count() or 1
    result = {"cores": cores, "offered_per_s": rate, "steps": rows,
              "capacity": capacity_model(rows, cores)}
    table = Table(title=f"scale-out on {cores} cores, offered {rate:g}/s for {duration:g} s")
    for col in ("workers", "decided/s", "p50 ms", "p99 ms", "max lag", "duplicates"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["workers"]), f"{r['throughput_per_s']:.1f}",
                      f"{r['latency_ms_p50']:.0f}", f"{r['latency_ms_p99']:.0f}",
                      str(r["max_lag"]), str(r["duplicates"]))
    Console().print(table)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    typer.echo(f"written to {json_out}")
