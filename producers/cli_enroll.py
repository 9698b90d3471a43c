"""The ``examgate enroll`` command's work: progress bar, checks and a summary table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import rich.markup
from rich.console import Console
from rich.progress import track
from rich.table import Table

from examgate.adapters.kafka import EventPublisher
from examgate.core import lookalikes
from examgate.core.codec import EventCodec
from examgate.core.cohort import Cohort, pair_rate, tail_in_words, thresholds_among
from examgate.core.settings import Settings
from examgate.models.analyzer import load_analyzer
from producers.enroll import EnrollmentProducer, EnrollSummary, RosterEntry, read_roster


def run_enroll(settings: Settings, roster: Path | None, photos: Path | None,
               student: str | None, action: str, photo_files: list[Path], check: bool) -> int:
    """Send the requests; returns the process exit code (1 if anything failed)."""
    console = Console(stderr=True)
    publisher = EventPublisher(settings.kafka, EventCodec(), client_id="enroll")
    analyzer = load_analyzer(settings) if check and action != "DELETE" else None
    producer = EnrollmentProducer(settings, publisher, analyzer)
    summary = EnrollSummary()
    if student is not None:
        if action == "DELETE":
            producer.send(student, "DELETE")
            summary.sent.append(student)
        else:
            producer.enroll(RosterEntry(student, tuple(photo_files)), action, summary)
    else:
        assert roster is not None
        entries = read_roster(roster, photos or roster.parent)
        for entry in track(entries, description="checking and sending", console=console):
            producer.enroll(entry, action, summary)
    summary.delivery = publisher.flush()
    table = Table(title=f"enrollment {action}")
    table.add_column("result")
    table.add_column("students", justify="right")
    table.add_row("sent and acknowledged", str(summary.delivery.delivered))
    table.add_row("refused (photo problems)", str(len(summary.refused)))
    table.add_row("not delivered", str(len(summary.delivery.failed)))
    console.print(table)
    for sid, why in summary.refused:
        console.print(f"  refused {sid}: {why}")
    for event_id, err in summary.delivery.failed:
        console.print(f"  NOT DELIVERED {event_id}: {err}")
    return 1 if summary.refused or summary.delivery.failed else 0


def lookalike_report(settings: Settings, json_out: Path | None = None,
                     model: str = "champion") -> int:
    """Print (and optionally write) the look-alike pairs among a version's templates, and
    how often any two enrolled students score at or above its accept threshold."""
    from examgate.adapters import factory
    from examgate.models.analyzer import served_thresholds

    registry = factory.model_registry(settings)
    version = registry.resolve(model)
    store = factory.template_store(settings)
    templates = list(store.get_many(store.students(version), version).values())
    pairs = lookalikes.pairs_among(templates)
    cohort = Cohort.of(version, templates)
    bundle = registry.load(version)
    on = settings.checkin.cohort_threshold
    raised = thresholds_among(served_thresholds(bundle, settings), cohort if on else None)
    rate = pair_rate(cohort, raised.accept, raised.accept_far)
    table = Table(title=f"look-alikes among enrolled students (model version {version}): "
                        "check-ins claimed as either go to a proctor when the face fits both")
    for col in ("student", "resembles", "similarity"):
        table.add_column(col, justify="right" if col == "similarity" else "left")
    for a, b, sim in pairs:
        table.add_row(a, b, f"{sim:.3f}")
    console = Console()
    console.print(table if pairs else f"no look-alikes among the templates of version "
                                      f"{version}")
    if on:
        console.print(rich.markup.escape(tail_in_words(bundle.thresholds, raised, cohort)))
    console.print(rich.markup.escape(rate.in_words()), style="bold red" if rate.too_alike else None)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"model_version": version, "pairs": [
            {"student": a, "resembles": b, "similarity": s} for a, b, s in pairs],
            "accept_threshold": {"calibrated": bundle.thresholds.accept,
                                 "floor": settings.checkin.accept_at_least,
                                 "served": raised.accept, "cohort_tail": cohort.tail,
                                 "calibration_tail": bundle.thresholds.cohort_tail},
            "threshold_check": {**dataclasses.asdict(rate), "rate": rate.rate,
                                "ci95": rate.ci95, "too_alike": rate.too_alike}}, indent=2))
    return 0
