"""``examgate analyse IMAGE... [--burst] --json FILE``: everything the pipeline finds, per image
or per burst, so a university can try ExamGate on its own captures (of real attacks too).

Each item is one image, or with ``--burst`` one folder of frames (name order; the
first is the primary frame, the rest the burst a gate would send after it). For
each: the faces found, the quality measures and failed gates, whether an
embedding was made, and the liveness signals, fused score and verdict against
the thresholds of the chosen model version (``--model``), or of the settings
when no registry is at hand (``--model settings``, the default: no stack needed).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from examgate.core.policy import LivenessCheck
from examgate.core.settings import Settings, load_settings
from examgate.vision import FacePipeline, ImageDecodeError
from examgate.vision.liveness import LivenessChecker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_console = Console(stderr=True)


def frames_of(path: Path, burst: bool) -> list[Path]:
    """The frames of one item: the image itself, or a burst folder's images in name order."""
    if not burst:
        return [path]
    if not path.is_dir():
        raise typer.BadParameter(f"{path} is not a folder of frames (--burst)")
    frames = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not frames:
        raise typer.BadParameter(f"no images in {path}")
    return frames


def analyse_item(pipeline: FacePipeline, checker: LivenessChecker | None,
                 thresholds: tuple[float, float], frames: list[Path],
                 single_frame_ok: bool = False) -> dict[str, Any]:
    """What the pipeline and the liveness checks found in one image or burst."""
    out: dict[str, Any] = {"path": str(frames[0].parent if len(frames) > 1 else frames[0]),
                           "frames": [str(p) for p in frames]}
    t0 = time.perf_counter()
    try:
        image = pipeline.decode(frames[0].read_bytes())
    except (OSError, ImageDecodeError) as exc:
        return out | {"error": f"unreadable: {exc}", "embedded": False}
    result = pipeline.run(image)
    m = result.verdict.measures
    out |= {
        "faces": [{"box": [round(float(c), 1) for c in d.box], "score": round(d.score, 4)}
                  for d in result.detections],
        "face_count": result.face_count,
        "quality": None if m is None else {k: (round(v, 3) if isinstance(v, float) else v)
                                           for k, v in dataclasses.asdict(m).items()},
        "quality_failures": list(result.quality_failures),
        "embedded": result.embedding is not None,
        "quality_ok": result.verdict.ok,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }
    if checker is None or result.verdict.face is None:
        out["liveness"] = None
        return out
    burst = []
    for p in frames[1:]:
        try:
            burst.append(pipeline.decode(p.read_bytes()))
        except (OSError, ImageDecodeError) as exc:
            out.setdefault("skipped_frames", []).append(f"{p}: {exc}")
    evidence = checker.check(image, result.verdict.face, burst)
    check = LivenessCheck(evidence.score, thresholds[0], thresholds[1], evidence.single_frame,
                          single_frame_ok, tuple(evidence.fired), evidence.why)
    out["liveness"] = {"verdict": check.verdict, "score": round(evidence.score, 4),
                       "pass_threshold": thresholds[0], "attack_threshold": thresholds[1],
                       "frames": evidence.frames, "single_frame": evidence.single_frame,
                       "signals": {k: round(v, 4) for k, v in evidence.signals.items()},
                       "fired": list(evidence.fired), "why": check.refusal,
                       "ms": round(evidence.ms, 2)}
    out["total_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return out


def _models(settings: Settings, model: str
            ) -> tuple[FacePipeline, LivenessChecker | None, tuple[float, float], str]:
    lv = settings.vision.liveness
    if model == "settings":
        checker = LivenessChecker.from_settings(lv) if lv.enabled else None
        return (FacePipeline.from_settings(settings.vision), checker,
                (lv.pass_threshold, lv.attack_threshold), "settings")
    from examgate.models.analyzer import load_analyzer

    analyzer = load_analyzer(settings, model)
    lm = analyzer.liveness_model
    thresholds = (lm.pass_threshold, lm.attack_threshold) if lm else (1.0, 1.0)
    return analyzer.pipeline, analyzer.liveness, thresholds, f"version {analyzer.model_version}"


def analyse(
    images: Annotated[list[Path], typer.Argument(
        help="Image files, or with --burst folders of frames (first = primary).", exists=True)],
    burst: Annotated[bool, typer.Option(
        "--burst", help="Each argument is a folder holding one check-in's frames.")] = False,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the findings as JSON to this file ('-' for stdout).")] = None,
    model: Annotated[str, typer.Option(help=(
        "Whose thresholds judge liveness: 'settings' (no stack needed), or a registered "
        "version or alias such as 'champion' (needs the MLflow registry)."))] = "settings",
    single_frame_gate: Annotated[bool, typer.Option(help=(
        "Judge as a gate configured single-frame (one frame may pass liveness).")
    )] = False,
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML or TOML).")] = None,
) -> None:
    """Print what the pipeline finds in each image or burst: faces, quality, embedding,
    liveness signals, fused score and verdict."""
    settings = load_settings(config)
    pipeline, checker, thresholds, source = _models(settings, model)
    items = [analyse_item(pipeline, checker, thresholds, frames_of(p, burst), single_frame_gate)
             for p in images]
    table = Table(title=f"examgate analyse (liveness thresholds of {source})")
    for col in ("item", "faces", "quality", "embedded", "live score", "verdict", "fired"):
        table.add_column(col)
    for it in items:
        live = it.get("liveness") or {}
        table.add_row(Path(it["path"]).name, str(it.get("face_count", "-")),
                      ",".join(it.get("quality_failures", [])) or ("ok" if "faces" in it
                                                                   else it.get("error", "")),
                      "yes" if it.get("embedded") else "no",
                      f"{live['score']:.3f}" if live else "-", live.get("verdict", "-"),
                      ",".join(live.get("fired", [])))
    _console.print(table)
    if json_out is not None:
        text = json.dumps({"source": source, "items": items}, indent=2)
        if str(json_out) == "-":
            typer.echo(text)
        else:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(text)
            _console.print(f"findings -> {json_out}")
