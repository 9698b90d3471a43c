"""``examgate gate`` and ``examgate enroll``: the gate camera and enrollment producers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from examgate.core.settings import load_settings


def gate(
    gate_id: Annotated[str, typer.Option("--gate-id", help="This gate's id (the Kafka key).")],
    exam_id: Annotated[str, typer.Option("--exam-id", help="The exam being checked in.")],
    source: Annotated[str, typer.Option(
        help="Camera index (0), a video file, or a folder: of images (one single-frame "
             "check-in each) or of burst sub-folders (one check-in each: its images in name "
             "order, the first being the primary frame).")] = "0",
    ids_from: Annotated[str, typer.Option(
        help="Where claimed student ids come from: 'card' (one line per ID-card read on "
             "stdin), 'roster' (CSV file,student_id) or 'filename' (name before '__').")] = "card",
    roster: Annotated[Path | None, typer.Option(help="Roster CSV for --ids-from roster.")] = None,
    inline_max_kb: Annotated[int, typer.Option(
        help="Frame KiB one check-in carries inside the event at most (the primary first); "
             "the other frames go to the object store by reference.")] = 256,
    burst: Annotated[int, typer.Option(
        min=0, max=32,
        help="Extra frames captured right after the primary, sent in the same check-in for "
             "the liveness checks; 0: a single-frame gate.")] = 4,
    burst_interval_ms: Annotated[int, typer.Option(
        min=1, max=2000,
        help="Milliseconds between burst frames (video: converted to frames by its FPS).")
    ] = 125,
) -> None:
    """Publish check-ins from a gate camera, a video or a folder of images or bursts."""
    from producers.frames import open_source
    from producers.gate import (
        claims_from_card_reader,
        claims_from_filenames,
        claims_from_roster,
        make_gate,
    )

    settings = load_settings()
    if burst > settings.checkin.max_extra_frames:
        typer.echo(f"warning: the verifier reads {settings.checkin.max_extra_frames} burst "
                   f"frame(s) at most (checkin.max_extra_frames); the rest are wasted", err=True)
    try:
        opened = open_source(source, burst, burst_interval_ms / 1000)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from exc
    frames = opened.captures
    if ids_from == "card":
        claims = claims_from_card_reader(frames)
    elif ids_from == "roster":
        if roster is None:
            raise typer.BadParameter("--ids-from roster needs --roster FILE")
        claims = claims_from_roster(frames, roster)
    elif ids_from == "filename":
        claims = claims_from_filenames(frames)
    else:
        raise typer.BadParameter("--ids-from must be card, roster or filename")
    producer = make_gate(settings, gate_id, exam_id, inline_max_bytes=inline_max_kb * 1024,
                         burst=opened.burst)
    report = producer.run(claims, opened.kind)
    typer.echo(f"gate {gate_id}: {report.delivered} check-in(s) delivered, "
               f"{len(report.failed)} failed")
    for event_id, err in report.failed:
        typer.echo(f"  NOT DELIVERED {event_id}: {err}", err=True)
    raise typer.Exit(1 if report.failed else 0)


def enroll(
    roster: Annotated[Path | None, typer.Argument(
        help="CSV with columns student_id and photos (';'-separated file names).",
        exists=True, dir_okay=False)] = None,
    photos: Annotated[Path | None, typer.Option(
        help="Folder holding the roster's photos.", file_okay=False)] = None,
    student: Annotated[str | None, typer.Option(help="One student instead of a roster.")] = None,
    action: Annotated[str, typer.Option(
        help="ADD appends photos, REPLACE swaps them, DELETE erases the student everywhere."
    )] = "ADD",
    photo: Annotated[list[Path] | None, typer.Option(
        help="A photo for --student (repeatable).")] = None,
    check: Annotated[bool, typer.Option(
        help="Check each photo with the champion model before sending.")] = True,
    report: Annotated[bool, typer.Option(
        "--report", help="List the enrolled look-alikes (pairs of students the champion "
        "can barely tell apart; their check-ins go to a proctor) and check the accept "
        "threshold among the enrolled (how often two of them score above it) instead of "
        "enrolling.")] = False,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="With --report: also write the pairs and the check here.")] = None,
    model: Annotated[str, typer.Option(
        help="With --report: the model version (number or alias) whose templates to report.")
    ] = "champion",
) -> None:
    """Enroll students from a roster, or add, replace or delete one student."""
    from producers.cli_enroll import lookalike_report, run_enroll

    if report:
        raise typer.Exit(lookalike_report(load_settings(), json_out, model))

    action = action.upper()
    if action not in {"ADD", "REPLACE", "DELETE"}:
        raise typer.BadParameter("--action must be ADD, REPLACE or DELETE")
    if (roster is None) == (student is None):
        raise typer.BadParameter("give either a ROSTER file or --student")
    code = run_enroll(load_settings(), roster, photos, student, action, photo or [], check)
    raise typer.Exit(code)
