"""``examgate bench e2e``: sustained check-in load through the real stack.

Latency is measured from the moment a check-in is published to the moment its
decision is readable (committed) on the decisions topic.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from examgate.adapters import factory as ports
from examgate.core.settings import Settings, load_settings
from simulator.driver import Probe, run_through_system

log = logging.getLogger("examgate.bench.e2e")


def live_burst(photo: bytes, frames: int, seed: int) -> tuple[bytes, ...]:
    """``photo`` as a gate's burst of a live student (JPEGs: the primary, then the burst)."""
    import cv2

    from examgate.augment import render_burst

    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a benchmark photo does not decode")
    rng = np.random.default_rng(seed)
    rendered = render_burst("bona_fide", np.asarray(image), rng, frames=frames)
    return tuple(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                 for f in rendered)


def load_probes(settings: Settings, students: int, rate: float, duration: float, gates: int,
                seed: int, burst: int = 4) -> tuple[list[tuple[str, list[bytes]]], list[Probe]]:
    """A cohort and a steady stream of genuine check-ins (a different photo of each student,
    with ``burst`` extra frames of natural micro-motion; 0 sends the photo alone)."""
    from examgate.models import lfw
    from examgate.models.bootstrap import calibration_identities

    lfw_dir = settings.data.lfw_dir
    rng = random.Random(seed)
    people = lfw.people(lfw_dir)
    excluded = calibration_identities(lfw_dir)
    multi = sorted(p for p, imgs in people.items() if len(imgs) >= 2 and p not in excluded)
    cohort = rng.sample(multi, min(students, len(multi)))
    read = {p: [Path(n).read_bytes() for n in people[p][:2]] for p in cohort}
    if burst > 0:
        frames = {p: live_burst(read[p][1], 1 + burst, seed + k) for k, p in enumerate(cohort)}
    else:
        frames = {p: (read[p][1],) for p in cohort}
    n = int(rate * duration)
    probes = [Probe(f"gate-{i % gates + 1}", cohort[i % len(cohort)],
                    frames[cohort[i % len(cohort)]][0], i / rate, {"kind": "genuine"},
                    extra_frames=frames[cohort[i % len(cohort)]][1:])
              for i in range(n)]
    return [(p, [read[p][0]]) for p in cohort], probes


def run_e2e(settings: Settings, rate: float, duration: float, workers: int, students: int,
            gates: int, seed: int, burst: int = 4, warmup_s: float = 2.0) -> dict[str, Any]:
    """Start workers, enroll, replay at ``rate`` for ``duration`` seconds, and measure."""
    from examgate.models.bootstrap import bootstrap

    version = bootstrap(settings)
    cohort, probes = load_probes(settings, students, rate, duration, gates, seed, burst)
    # The timeout is long enough to drain a backlog at a few check-ins per second.
    run = run_through_system(settings, cohort, probes, model_version=version,
                             exam_id="bench-e2e", workers=workers,
                             timeout=max(180.0, duration * rate / 8))
    outcomes = run.outcomes
    # The first transactions of a fresh producer take ~0.7 s to become readable (it joins the
    # decisions topic's partitions): warm-up, reported apart from the steady state.
    lat = np.array([o.latency_ms for o in outcomes
                    if o.latency_ms is not None and o.probe.at_s >= warmup_s])
    cold = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    decided = [o for o in outcomes if o.received_at is not None]
    received = [o.received_at for o in decided if o.received_at is not None]
    span = max(received) - min(o.sent_at for o in outcomes) if received else 0.0
    stages: dict[str, list[float]] = {}
    for o in decided:
        for name, ms in (o.decision or {}).get("latency_ms", {}).items():
            stages.setdefault(name, []).append(ms)
    live_ms = np.array(stages.get("liveness", []))
    # Where the time goes: publish -> decided (fetch, queue, processing) and decided ->
    # readable (the transaction's commit, then the reader's fetch).
    to_decided = np.array([(o.decision["decided_at"] - o.decision["published_at"])
                           .total_seconds() * 1000 for o in decided if o.decision])
    to_read = np.array([(o.received_at or 0) * 1000 - o.decision["decided_at"].timestamp() * 1000
                        for o in decided if o.decision])
    return {
        "rate": rate, "duration_s": duration, "workers": workers, "check_ins": len(outcomes),
        "burst_frames": burst,
        "outcomes": dict(Counter(f"{o.decision['outcome']} {o.decision['reason']}"
                                 for o in decided if o.decision)),
        "liveness_ms_p50": float(np.percentile(live_ms, 50)) if live_ms.size else None,
        "published_to_decided_ms_p50_p99": [round(float(np.percentile(to_decided, q)), 1)
                                            for q in (50, 99)] if to_decided.size else None,
        "decided_to_readable_ms_p50_p99": [round(float(np.percentile(to_read, q)), 1)
                                           for q in (50, 99)] if to_read.size else None,
        "stage_ms_p50_p99": {k: [round(float(np.percentile(v, q)), 1) for q in (50, 99)]
                             for k, v in sorted(stages.items())},
        "decided": len(decided), "duplicates": run.duplicates,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
        "warmup_s": warmup_s,
        "latency_ms_p99_with_warmup": float(np.percentile(cold, 99)) if cold else None,
        "throughput_per_s": len(decided) / span if span > 0 else None,
        "max_lag": max((v for _, v in run.lag_series), default=0),
        "lag_series": run.lag_series, "model_version": version,
        # Which model this was, in any registry (staging's copy of a challenger included).
        "model_fingerprint": ports.model_registry(settings).load(version).fingerprint,
    }


def e2e(
    rate: Annotated[float, typer.Option(help="Check-ins per second offered.")] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds of load.")] = 60.0,
    workers: Annotated[int, typer.Option(help="Processor workers (a consumer group).")] = 1,
    students: Annotated[int, typer.Option(help="Enrolled students to cycle through.")] = 100,
    gates: Annotated[int, typer.Option(help="Gates the load is spread over.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed of the cohort.")] = 11,
    burst: Annotated[int, typer.Option(min=0, max=8, help=(
        "Extra frames per check-in (a live student's micro-motion); 0 sends one frame, "
        "which a gate not configured single-frame decides as REVIEW."))] = 4,
    warmup: Annotated[float, typer.Option(min=0, help=(
        "Seconds at the start left out of the latency percentiles (a fresh worker's first "
        "transactions); they still count as check-ins, decided and duplicates."))] = 2.0,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the numbers.")] =
        Path("results/e2e.json"),
) -> None:
    """Offer RATE check-ins/s for DURATION s and report latency, throughput and lag."""
    result = run_e2e(load_settings(), rate, duration, workers, students, gates, seed, burst,
                     warmup)
    table = Table(title=f"bench e2e: {rate:g}/s for {duration:g} s, {workers} worker(s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("check_ins", "decided", "duplicates", "latency_ms_p50", "latency_ms_p95",
                "latency_ms_p99", "latency_ms_p99_with_warmup", "liveness_ms_p50",
                "throughput_per_s", "max_lag"):
        val = result[key]
        table.add_row(key, f"{val:.1f}" if isinstance(val, float) else str(val))
    for key in ("published_to_decided_ms_p50_p99", "decided_to_readable_ms_p50_p99"):
        if result[key]:
            table.add_row(key.replace("_p50_p99", " p50 / p99"), "{:.1f} / {:.1f}".format(
                *result[key]))
    for key, (p50, p99) in result["stage_ms_p50_p99"].items():
        table.add_row(f"  stage {key} p50 / p99", f"{p50:.1f} / {p99:.1f}")
    for key, count in sorted(result["outcomes"].items()):
        table.add_row(f"  {key}", str(count))
    Console().print(table)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    typer.echo(f"written to {json_out}")
