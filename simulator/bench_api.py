"""``examgate bench api``: check-ins through the HTTP API, at a steady rate, over HTTP.

The same load as ``bench e2e`` (a different photo of each enrolled student, with a
4-frame burst), but each check-in is a ``POST /v1/checkins`` to an ``examgate api``
process; latency is from sending the request to reading the decision in its answer
(or, after a 202, from the poll that finds it). Compare its p99 with ``bench e2e``'s:
the difference is what the API costs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from examgate.adapters import factory as ports
from examgate.core.settings import Settings, load_settings
from simulator.bench_e2e import load_probes
from simulator.driver import DecisionCollector, Probe, Workers, enroll_cohort, wait_for_group

log = logging.getLogger("examgate.bench.api")
EXAM = "bench-api"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(settings: Settings, token: str, log_file: Path) -> tuple[subprocess.Popen, str]:
    """``examgate api`` as a child process with one client allowed on the bench's gates."""
    import httpx2

    port = _free_port()
    # The API stores a client's token as its SHA-256 (http_api.settings.token_hash).
    client = {"id": "bench", "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
              "exams": [EXAM], "gates": ["gate-*"]}
    env = {**os.environ, "EXAMGATE_API_TOKENS": json.dumps([client]),
           "EXAMGATE_API_RATE_PER_S": "1000", "EXAMGATE_API_RATE_BURST": "1000"}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen([sys.executable, "-m", "examgate.cli", "api", "--port", str(port)],
                            stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 90
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"examgate api exited ({proc.returncode}); see {log_file}")
        try:
            if httpx2.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise TimeoutError(f"examgate api not ready in 90 s; see {log_file}")


async def _one(client: Any, url: str, token: str, probe: Probe, poll_s: float
               ) -> tuple[float | None, str, str | None]:
    """(latency ms until the decision, status, event id once the API acknowledged it)."""
    files = [("frame", ("f0.jpg", probe.frame, "image/jpeg"))]
    files += [("frame", (f"f{i}.jpg", f, "image/jpeg"))
              for i, f in enumerate(probe.extra_frames, 1)]
    data = {"student_id": probe.claimed_student_id, "gate_id": probe.gate_id, "exam_id": EXAM}
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    event_id = None
    try:
        r = await client.post(f"{url}/v1/checkins", data=data, files=files, headers=headers)
        if r.status_code in (200, 202):
            event_id = r.json()["event_id"]
        if r.status_code == 202:
            poll = r.json()["poll"]
            end = time.monotonic() + poll_s
            while r.status_code != 200 and time.monotonic() < end:
                await asyncio.sleep(0.2)
                r = await client.get(f"{url}{poll}", headers=headers)
    except Exception as exc:  # noqa: BLE001 - counted, and the run goes on
        return None, type(exc).__name__, event_id
    ms = (time.perf_counter() - start) * 1000
    return (ms, "200", event_id) if r.status_code == 200 else (None, str(r.status_code),
                                                                event_id)


async def drive(url: str, token: str, probes: list[Probe], poll_s: float = 60.0,
                on_answer: Callable[[str | None], None] | None = None
                ) -> list[tuple[float, float | None, str, str | None]]:
    """Send each probe at its time; (sent at, latency ms or None, status, event id) each.

    ``on_answer`` is called with each probe's event id (None when the API never
    acknowledged it) as its answer arrives, in the order answers arrive.
    """
    import httpx2

    async with httpx2.AsyncClient(timeout=30) as client:
        start = time.monotonic()

        async def at(probe: Probe) -> tuple[float, float | None, str, str | None]:
            await asyncio.sleep(max(0.0, probe.at_s - (time.monotonic() - start)))
            ms, status, event_id = await _one(client, url, token, probe, poll_s)
            if on_answer is not None:
                on_answer(event_id)
            return probe.at_s, ms, status, event_id

        return list(await asyncio.gather(*(at(p) for p in probes)))


def run_api_bench(settings: Settings, rate: float, duration: float, workers: int,
                  students: int, gates: int, seed: int, burst: int, warmup_s: float
                  ) -> dict[str, Any]:
    """Start workers and the API, enroll, drive the API at ``rate``, and measure."""
    from examgate.models.bootstrap import bootstrap

    version = bootstrap(settings)
    cohort, probes = load_probes(settings, students, rate, duration, gates, seed, burst)
    logs = settings.stack.state_dir / "logs"
    token = secrets.token_urlsafe(24)
    with Workers(settings, workers, logs) as running:
        wait_for_group(settings, workers)
        enroll_cohort(settings, cohort, version)
        api, url = start_api(settings, token, logs / "api-bench.log")
        # The decisions topic itself, read apart from the API: a check-in decided twice
        # shows here, whatever the API answered.
        from examgate.core.codec import EventCodec

        collector = DecisionCollector(settings, EventCodec())
        collector.start()
        collector.ready.wait(60)
        time.sleep(3)  # it reads the topic from the start: earlier runs' decisions first
        dup0 = collector.duplicates
        try:
            began = time.monotonic()
            results = asyncio.run(drive(url, token, probes))
            span = time.monotonic() - began
            time.sleep(3)  # a late duplicate would arrive about now
        finally:
            api.terminate()
            api.wait(30)
            collector.stop()
        lost = workers - running.alive()
    ok = np.array([ms for at, ms, _, _ in results if ms is not None and at >= warmup_s])
    statuses = Counter(status for _, _, status, _ in results)
    return {
        "rate": rate, "duration_s": duration, "workers": workers, "burst_frames": burst,
        "check_ins": len(results), "decided": statuses.get("200", 0),
        "errors": len(results) - statuses.get("200", 0), "statuses": dict(statuses),
        "duplicated": collector.duplicates - dup0,
        "latency_ms_p50": float(np.percentile(ok, 50)) if ok.size else None,
        "latency_ms_p95": float(np.percentile(ok, 95)) if ok.size else None,
        "latency_ms_p99": float(np.percentile(ok, 99)) if ok.size else None,
        "throughput_per_s": statuses.get("200", 0) / span if span > 0 else None,
        "warmup_s": warmup_s, "workers_lost": lost, "model_version": version,
        "model_fingerprint": ports.model_registry(settings).load(version).fingerprint,
    }


def api_bench(
    rate: Annotated[float, typer.Option(help="Check-ins per second offered.")] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds of load.")] = 60.0,
    workers: Annotated[int, typer.Option(help="Processor workers.")] = 1,
    students: Annotated[int, typer.Option(help="Enrolled students to cycle through.")] = 100,
    gates: Annotated[int, typer.Option(help="Gates the load is spread over.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed of the cohort.")] = 11,
    burst: Annotated[int, typer.Option(min=0, max=8, help="Extra frames per check-in.")] = 4,
    warmup: Annotated[float, typer.Option(min=0, help=(
        "Seconds at the start left out of the percentiles."))] = 2.0,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the numbers.")] =
        Path("results/api.json"),
) -> None:
    """Offer RATE check-ins/s through the HTTP API for DURATION s; report latency and errors."""
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per request
    result = run_api_bench(load_settings(), rate, duration, workers, students, gates, seed,
                           burst, warmup)
    table = Table(title=f"bench api: {rate:g}/s for {duration:g} s, {workers} worker(s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("check_ins", "decided", "errors", "duplicated", "latency_ms_p50", "latency_ms_p95",
                "latency_ms_p99", "throughput_per_s", "workers_lost"):
        val = result[key]
        table.add_row(key, f"{val:.1f}" if isinstance(val, float) else str(val))
    for status, n in sorted(result["statuses"].items()):
        table.add_row(f"  HTTP {status}", str(n))
    Console().print(table)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    typer.echo(f"written to {json_out}")
    raise typer.Exit(0 if result["errors"] == 0 and result["duplicated"] == 0 else 1)
