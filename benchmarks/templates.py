"""Template store benchmark: what reading templates costs as the enrolled cohort grows.

An enrollment compares the new template with every template of its version (the
look-alike search, :func:`examgate.core.lookalikes.link`), so its cost grows with the
number of students enrolled; a check-in reads its student's template and those of up
to eight look-alikes. This measures, on the real Redis of the configured stack, for
cohorts of each size: reading every template one ``GET`` at a time, all of them with
:meth:`~examgate.core.ports.TemplateStore.get_many` (``MGET``), and one whole
look-alike search, and a verify worker's read of the cohort after an enrollment (all of
them, with their pair-score tail: :class:`~examgate.core.cohort.CohortCache`); and, in
process, decoding one template in the current format (an
Avro record) and in the npz of earlier releases.

The templates are random unit vectors (one image each, 128-D like SFace) under a
model version of their own, removed afterwards. Run ``examgate bench templates``;
numbers are printed and written, nothing is asserted.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from benchmarks.report import write_results
from examgate.adapters.factory import template_store
from examgate.core import lookalikes
from examgate.core.cohort import CohortCache
from examgate.core.ports import Template, TemplateStore
from examgate.core.settings import load_settings

console = Console(stderr=True)
DIM = 128


def _template(student: str, version: str, rng: np.random.Generator) -> Template:
    emb = rng.normal(size=(1, DIM)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Template.from_embeddings(student, version, emb,
                                    rng.integers(0, 255, (1, 32, 32)).astype(np.uint8))


def _ms(fn: Any, repeat: int) -> float:
    """Median milliseconds of ``fn()`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def decode_costs(repeat: int = 2000) -> dict[str, float]:
    """Microseconds to decode one template, current format and the npz before it."""
    t = dataclasses.replace(_template("someone", "1", np.random.default_rng(0)),
                            lookalikes=(("a", 0.41), ("b", 0.39)))
    avro, npz = t.to_bytes(), t.to_npz()
    out = {}
    for name, blob in (("avro_us", avro), ("npz_us", npz)):
        t0 = time.perf_counter()
        for _ in range(repeat):
            Template.from_bytes(blob)
        out[name] = (time.perf_counter() - t0) / repeat * 1e6
    out["avro_bytes"], out["npz_bytes"] = float(len(avro)), float(len(npz))
    return out


def measure_cohort(store: TemplateStore, n: int, repeat: int) -> dict[str, float]:
    """Store ``n`` templates under a fresh version, time the reads, remove them."""
    version = f"bench-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(n)
    students = [f"{version}-s{i}" for i in range(n)]
    try:
        for s in track(students, description=f"storing {n:,} templates", console=console):
            store.put(_template(s, version, rng))
        newcomer = _template(f"{version}-new", version, rng)
        return {
            "students": n,
            "get_loop_ms": _ms(lambda: [store.get(s, version) for s in students], 1),
            "get_many_ms": _ms(lambda: store.get_many(students, version), repeat),
            # At a similarity no pair reaches: the search alone, no look-alike stored again.
            "lookalike_search_ms": _ms(lambda: lookalikes.link(store, newcomer, 2.0), repeat),
            # What a verify worker does after an enrollment: the cohort read afresh, with its
            # pair-score tail (the threshold among the enrolled).
            "cohort_read_ms": _ms(lambda: CohortCache(store).get(version), repeat),
        }
    finally:
        for s in students:
            store.delete_student(s)


def templates(
    students: Annotated[str, typer.Option(help="cohort sizes, comma-separated")] = "600,3000,10000",
    repeat: Annotated[int, typer.Option(min=1, help="runs per timing (median)")] = 3,
    json_out: Annotated[Path, typer.Option("--json", help="write results here")] = Path(
        "results/templates.json"),
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Reading templates as the cohort grows: GET loop vs MGET, a look-alike search, decoding."""
    sizes = [int(x) for x in students.split(",") if x.strip()]
    # Every timed read is a fresh worker's first: its "tail measured" line each time is noise.
    logging.getLogger("examgate.cohort").setLevel(logging.WARNING)
    settings = load_settings(config)
    store = template_store(settings)
    rows = [measure_cohort(store, n, repeat) for n in sizes]
    decode = decode_costs()
    table = Table(title="templates in Redis (median ms)")
    for col in ("students", "GET each", "get_many (MGET)", "look-alike search",
                "cohort read (worker)"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['students']:,}", f"{r['get_loop_ms']:.0f}", f"{r['get_many_ms']:.0f}",
                      f"{r['lookalike_search_ms']:.0f}", f"{r['cohort_read_ms']:.0f}")
    console.print(table)
    console.print(f"decoding one template: {decode['avro_us']:.0f} us (Avro record, "
                  f"{decode['avro_bytes']:.0f} B), {decode['npz_us']:.0f} us (npz of earlier "
                  f"releases, {decode['npz_bytes']:.0f} B)")
    result = {"cohorts": rows, "decode": decode, "dim": DIM,
              "machine": {"platform": platform.platform(), "python": platform.python_version()}}
    write_results(result, json_out, console)
