"""``examgate simulate``: a scenario through the running system, and the online evaluation report.

Enrolls the scenario's cohort (identities disjoint from those that trained or
calibrated the model, checked in code), replays its check-ins through the gate
producers on the scenario's arrival schedule, collects every decision and
writes the report (JSON, HTML with plots, CSV), logged to MLflow as a run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console

from examgate.augment import apply_chain_moved, render_burst
from examgate.core.settings import Settings
from examgate.models import lfw
from examgate.models.lfw import names_in_pairs
from simulator.cohort import Person, check_disjoint, select_cohort
from simulator.driver import Outcome, Probe, run_through_system
from simulator.report import compute_report, print_summary, row_from, write_report
from simulator.report.rows import ResultRow
from simulator.scenario import PlannedCheckIn, Scenario, plan_checkins
from simulator.second_look import second_look_plan

log = logging.getLogger("examgate.simulate")


def excluded_identities(settings: Settings, model_spec: dict[str, Any]) -> set[str]:
    """Identities the model saw in training or calibration: never simulated students."""
    from examgate.models.bootstrap import CALIBRATION_SPLIT

    names = set(model_spec.get("calibration", {}).get("identities", []))
    names |= set(model_spec.get("training", {}).get("identities", []))
    names |= names_in_pairs(settings.data.lfw_dir / CALIBRATION_SPLIT)
    return names


def lookalike_finder(analyzer: Any, students: Sequence[Person]
                     ) -> Callable[[str, Sequence[str]], str]:
    """nearest(image, candidates): the enrolled student whose template (embedded as
    enrollment embeds it) is closest to the face, as the gate would score them."""
    cache: dict[tuple[str, bool], np.ndarray | None] = {}

    def embed(path: str, template: bool = False) -> np.ndarray | None:
        if (path, template) not in cache:
            cache[path, template] = analyzer.analyse(Path(path).read_bytes(),
                                                     enrolling=template).embedding
        return cache[path, template]

    enrolled = {p.name: p.images[0] for p in students}

    def nearest(image: str, candidates: Sequence[str]) -> str:
        probe = embed(image)
        if probe is None:
            return candidates[0]
        scored = [(float(probe @ e), c) for c in candidates
                  if (e := embed(enrolled[c], template=True)) is not None]
        return max(scored)[1] if scored else candidates[0]

    return nearest


def enrollable(analyzer: Any, candidates: Sequence[Person], n: int) -> list[Person]:
    """The first ``n`` candidates with a photo the registrar would accept (one clear face),
    that photo moved first; the enrollment producer applies the same check."""
    from rich.progress import track

    from examgate.core.enrollment import check_photo

    out: list[Person] = []
    for person in track(candidates, description="choosing enrollment photos"):
        good = next((img for img in person.images
                     if check_photo(analyzer, Path(img).read_bytes()) is None), None)
        if good is not None:
            out.append(person._replace(images=(good, *(i for i in person.images if i != good))))
        if len(out) == n:
            return out
    raise ValueError(f"only {len(out)} of the {n} students asked for have a usable photo")


def _jpeg(frame: np.ndarray, quality: int) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def render_probe(planned: PlannedCheckIn) -> tuple[bytes, list[bytes]]:
    """The primary frame and the burst a gate camera would send for this check-in (JPEGs).

    The transforms alter the source photo, then the instrument renders ``1 +
    burst_frames`` frames of it; without one (a replay, an empty scene, a single-frame
    gate) the altered image itself is sent, repeated in the burst.
    """
    image = cv2.imread(planned.source_image, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(planned.source_image)
    landmarks = None
    if planned.steps:
        image, landmarks = apply_chain_moved(image, planned.steps)
    if planned.instrument is None:
        primary = _jpeg(image, 92)
        return primary, [primary] * planned.burst_frames
    frames = render_burst(planned.instrument, image, planned.burst_rng(),
                          frames=1 + planned.burst_frames, landmarks=landmarks,
                          params=planned.instrument_params)
    encoded = [_jpeg(f, 90) for f in frames]
    return encoded[0], encoded[1:]


def _single_threaded() -> None:
    cv2.setNumThreads(1)


def render_probes(plan: Sequence[PlannedCheckIn], workers: int | None = None
                  ) -> Iterator[tuple[bytes, list[bytes]]]:
    """:func:`render_probe` for each planned check-in, in order, with a progress bar;
    in ``workers`` processes (default: one per core, at most 8) when the plan is long."""
    from rich.progress import track

    workers = workers or min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(plan) < 256:  # starting the processes takes seconds
        yield from track((render_probe(p) for p in plan), total=len(plan),
                         description="rendering check-ins")
        return
    with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"),
                             initializer=_single_threaded) as pool:
        yield from track(pool.map(render_probe, plan, chunksize=8), total=len(plan),
                         description=f"rendering check-ins ({workers} processes)")


def prepare(settings: Settings, scenario: Scenario, version: str
            ) -> tuple[list[tuple[str, list[bytes]]], list[Probe], list[PlannedCheckIn]]:
    """Cohort to enroll, probes to send, and the plan behind them."""
    from examgate.adapters import factory as ports
    from examgate.models.analyzer import analyzer_from_bundle

    bundle = ports.model_registry(settings).load(version)
    excluded = excluded_identities(settings, bundle.spec)
    rng = np.random.default_rng(scenario.seed)
    analyzer = analyzer_from_bundle(bundle, settings)
    # Draw a margin: some LFW photos would be refused at the registrar's desk.
    available = sum(len(imgs) >= 2 and name not in excluded
                    for name, imgs in lfw.people(settings.data.lfw_dir).items())
    margin = min(available, int(scenario.cohort_size * 1.3) + 5)
    students, others = select_cohort(settings.data.lfw_dir, margin, excluded, rng)
    students = enrollable(analyzer, students, scenario.cohort_size)
    check_disjoint(students, others, excluded)
    needs_lookalike = any(p.kind == "impostor_lookalike" for p in scenario.probes)
    nearest = lookalike_finder(analyzer, students) if needs_lookalike else None
    plan = plan_checkins(scenario, students, others, nearest=nearest)
    cohort = [(p.name, [Path(p.images[0]).read_bytes()]) for p in students]
    return cohort, probes_for(plan), plan


def probes_for(plan: Sequence[PlannedCheckIn]) -> list[Probe]:
    """The rendered probes of a plan, each labelled with its index in the plan."""
    return [Probe(p.gate_id, p.claimed_student_id, primary, p.send_offset_s,
                  {"index": p.index}, tuple(burst))
            for p, (primary, burst) in zip(plan, render_probes(plan), strict=True)]


def log_to_mlflow(settings: Settings, scenario: Scenario, report: dict[str, Any],
                  paths: dict[str, Path]) -> str:
    """Record the simulation as an MLflow run (parameters, headline rates, the report); its id."""
    from examgate.adapters.mlflow import MlflowRun

    with MlflowRun.start(settings.mlflow.tracking_uri, f"{settings.mlflow.experiment}-simulations",
                         scenario.name) as run:
        run.params({"scenario": scenario.name, "seed": scenario.seed,
                    "cohort_size": scenario.cohort_size, "checkins": scenario.checkins,
                    "gates": scenario.gates})
        run.metrics(headline_rates(report))
        for path in paths.values():
            run.artifact(path, "report")
    return run.run_id


def headline_rates(report: dict[str, Any]) -> dict[str, float]:
    """``overall_<key>``: each overall number, or the ``rate`` of an overall count;
    ``pad_<key>``: BPCER, its parts and the worst APCER."""
    flat = {}
    for key, value in report.get("overall", {}).items():
        if isinstance(value, int | float):
            flat[f"overall_{key}"] = float(value)
        elif isinstance(value, dict) and isinstance(value.get("rate"), int | float):
            flat[f"overall_{key}"] = float(value["rate"])
    pad = report.get("pad") or {}
    for key in ("bpcer", "bpcer_review", "bpcer_reject", "apcer_max"):
        if isinstance((pad.get(key) or {}).get("rate"), int | float):
            flat[f"pad_{key}"] = float(pad[key]["rate"])
    return flat


def run_scenario(settings: Settings, scenario: Scenario, report_dir: Path | None,
                 workers: int = 1) -> tuple[dict[str, Any], list[Any]]:
    """Run ``scenario`` end to end; returns the report and its rows."""
    from examgate.models.bootstrap import bootstrap

    console = Console()
    version = bootstrap(settings)
    console.print(f"scenario [bold]{scenario.name}[/bold]: {scenario.cohort_size} students, "
                  f"{scenario.checkins} check-ins, {scenario.gates} gates, model {version}")
    cohort, probes, plan = prepare(settings, scenario, version)
    looks: list[tuple[PlannedCheckIn, str]] = []
    # The second round at the first's mean pace (its rush hours are not repeated).
    pace = probes[-1].at_s / max(1, len(probes) - 1) if probes else 0.0

    def second_looks(first: list[Outcome]) -> list[Probe]:
        looks.extend(second_look_plan(plan, first, pace))
        console.print(f"second looks: {len(looks)} check-in(s) prompted to turn, sent again")
        return probes_for([p for p, _ in looks])

    run = run_through_system(
        settings, cohort, probes, model_version=version,
        exam_id=plan[0].exam_id if plan else scenario.name, workers=workers,
        timeout=max(300.0, probes[-1].at_s + 120 if probes else 0),
        follow_up=second_looks if scenario.second_look else None)

    def row(o: Outcome, planned: PlannedCheckIn, of: str | None = None) -> ResultRow:
        sent = o.decision["published_at"].timestamp() if o.decision else o.sent_at
        return row_from(planned, o.decision, sent_at=sent, received_at=o.received_at,
                        scenario=scenario.name, second_look_of=of)

    rows = [row(o, plan[o.probe.label["index"]]) for o in run.outcomes]
    rows += [row(o, *looks[o.probe.label["index"]]) for o in run.second]
    report = compute_report(rows, run.lag_series)
    report["duplicate_decisions"] = run.duplicates
    report["model_version"] = version
    print_summary(report, console=console)
    if report_dir is not None:
        paths = write_report(report, rows, run.lag_series, report_dir)
        console.print("report: " + ", ".join(str(p) for p in paths.values()))
        try:
            log_to_mlflow(settings, scenario, report, paths)
        except Exception as exc:  # noqa: BLE001 - the report on disk is what counts
            log.warning("could not log the simulation to MLflow: %s", exc)
    return report, rows
