"""The main job, ``examgate demo``: a simulated exam check-in through the whole local stack.

A plain scenario built from a few knobs: every enrolled student checks in once
with another photo of themselves, plus impostors claiming someone else's id,
unenrolled visitors and frames with no face, through a few gates at a steady rate.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from examgate.core.settings import Settings
from simulator.run import run_scenario
from simulator.scenario import Scenario


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the demo (all have defaults on the command line)."""

    students: int = 500
    gates: int = 4
    workers: int = 1
    rate: float = 8.0
    impostors: float = 0.10
    unenrolled: float = 0.05
    no_face: float = 0.05
    seed: int = 7


def demo_scenario(cfg: DemoConfig) -> Scenario:
    """The scenario the demo replays."""
    mix = {"impostor_random": cfg.impostors, "unenrolled": cfg.unenrolled,
           "no_face": cfg.no_face}
    extra = {kind: round(cfg.students * share) for kind, share in mix.items()}
    checkins = cfg.students + sum(extra.values())
    probes = [{"kind": "genuine", "weight": cfg.students}]
    probes += [{"kind": kind, "weight": n} for kind, n in extra.items() if n > 0]
    return Scenario.model_validate({
        "name": "demo", "description": "examgate demo", "seed": cfg.seed,
        "cohort_size": cfg.students, "checkins": checkins, "gates": cfg.gates,
        "arrival": {"process": "steady", "rate_per_s": cfg.rate}, "probes": probes})


def run_demo(settings: Settings, cfg: DemoConfig, json_out: Path | None,
             report_dir: Path | None = None) -> dict[str, Any]:
    """Run the demo; returns the report (also written to ``json_out``)."""
    report, rows = run_scenario(settings, demo_scenario(cfg), report_dir, workers=cfg.workers)
    report["config"] = asdict(cfg)
    report["decided"] = sum(r.outcome is not None for r in rows)
    report["check_ins"] = len(rows)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2, default=str))
    return report
