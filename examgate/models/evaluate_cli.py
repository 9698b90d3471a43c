"""``examgate evaluate``: run the served decision on a folder of your own photos, no stack.

What a university runs before it trusts the system: one sub-folder per person, an
optional CSV of attributes per person, and out come the false-accept and false-reject
rates the gate would have on those people, with 95% intervals, per attribute, and a
DET curve (JSON, and an HTML page with ``--report``).
"""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from examgate.core.settings import load_settings
from examgate.models.evaluate import (
    LIVENESS_MODES,
    PhotoSetError,
    read_labels,
    read_photo_set,
    run_evaluation,
    summarise,
)

console = Console(stderr=True)
log = logging.getLogger("examgate.evaluate")
NOTE = ("Each probe photo is claimed as its own person and as every other enrolled person; "
        "each claim is decided by the same function as the verify processor (quality gates, "
        "replay check, liveness verdict, look-alike and cohort checks, thresholds); 'not "
        "enrolled' rates judge the same impostor claims as if the impostor had no template "
        "of their own (a stand-in from outside). Photos carry no burst: with liveness "
        "'assume-live' a claim is judged as if liveness had passed ('examgate bench pad' "
        "measures liveness). Intervals are Wilson 95% intervals over claims, which share "
        "photos: read them as the least uncertainty there is.")


def _analyzer(settings: Any, model: str) -> Any:
    from examgate.models.analyzer import analyzer_from_bundle, load_analyzer

    if model == "local":
        from examgate.models.bootstrap import local_bundle

        return analyzer_from_bundle(local_bundle(settings), settings)
    return load_analyzer(settings, model)


def _pct(value: float | None) -> str:
    return "\u2013" if value is None else f"{100 * value:.3g}%"


def _ci(pair: list[float] | None) -> str:
    return "\u2013" if not pair else f"{100 * pair[0]:.3g}\u2013{100 * pair[1]:.3g}%"


def _print(r: dict[str, Any]) -> None:
    table = Table(title=f"examgate evaluate: version {r['model_version']} on {r['photos']}")
    for col in ("measure", "rate", "95% interval", "claims"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    table.add_row("false accepts (impostor ACCEPT)", _pct(r["far_at_accept"]),
                  _ci(r["far_at_accept_ci95"]), str(r["impostor"]["claims"]))
    table.add_row("  the same, impostors not enrolled", _pct(r["far_at_accept_not_enrolled"]),
                  _ci(r["far_at_accept_not_enrolled_ci95"]), str(r["impostor"]["claims"]))
    table.add_row("false rejects (genuine REJECT)", _pct(r["frr"]), _ci(r["frr_ci95"]),
                  str(r["genuine"]["claims"]))
    table.add_row("genuine REVIEW", _pct(r["review_rate"]), _ci(r["genuine"]["review_ci95"]),
                  str(r["genuine"]["claims"]))
    table.add_row("rank-1 identification", _pct(r["rank1"]), "", str(r["rank1_probes"]))
    for key, tar in r["tar_at_far"].items():
        table.add_row(f"TAR @ FAR {key} (all pairs)", _pct(tar), "", "")
    for attr, values in r["slices"].items():
        for value, s in values.items():
            table.add_row(f"{attr}={value}: false accepts / rejects",
                          f"{_pct(s['far_at_accept'])} / {_pct(s['frr'])}",
                          _ci(s["far_at_accept_ci95"]), str(s["impostor_claims"]))
    Console().print(table)
    t = r["thresholds"]
    if t["accept"] > t["calibrated_accept"]:
        Console().print(f"Judged at accept >= {t['accept']:.4f}, raised from the version's "
                        f"{t['calibrated_accept']:.4f} among these people, as the gate would "
                        "serve it (checkin.cohort_threshold).")


def _det_png(r: dict[str, Any]) -> str | None:
    if "det" not in r:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("no DET plot: matplotlib is not installed (pip install 'examgate[bench]')")
        return None
    far, frr = r["det"]["far"], r["det"]["frr"]
    keep = [(f, e) for f, e in zip(far, frr, strict=True) if f > 0 and e > 0]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if keep:
        ax.loglog(*zip(*keep, strict=True), label="all pairs")
    ax.axvline(r["target_far"], linestyle=":", color="grey", label=f"target FAR {r['target_far']}")
    ax.set_xlabel("false-accept rate")
    ax.set_ylabel("false-reject rate")
    ax.set_title("DET, score level")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(r: dict[str, Any], folder: Path) -> Path:
    """``folder/index.html``: the tables and the DET curve, one self-contained page."""
    try:
        import jinja2
    except ImportError as exc:
        raise SystemExit("the HTML report needs jinja2: pip install 'examgate[bench]'") from exc
    env = jinja2.Environment(loader=jinja2.PackageLoader("examgate.models", "templates"),
                             autoescape=True)
    reasons = sorted({*r["genuine"]["review_reasons"], *r["genuine"]["reject_reasons"],
                      *r["impostor"]["review_reasons"], *r["impostor"]["reject_reasons"]})
    page = env.get_template("evaluate.html").render(r=r, pct=_pct, ci=_ci, reasons=reasons,
                                                    det_png=_det_png(r))
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "index.html"
    out.write_text(page)
    return out


def evaluate(
    photos: Annotated[Path, typer.Argument(help="folder with one sub-folder of images per person")],
    json_out: Annotated[Path, typer.Option("--json", help="write the numbers here")] = Path(
        "results/evaluate.json"),
    labels: Annotated[Path | None, typer.Option(help=(
        "CSV with a 'person' column and one column per attribute (gender, age_band...): "
        "rates per value"))] = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML report into this folder")
                      ] = None,
    enrollment: Annotated[Path | None, typer.Option(help=(
        "CSV 'person,image': the image each person enrolls with (default: the first by "
        "name)"))] = None,
    model: Annotated[str, typer.Option(help=(
        "'local': the configured models, calibrated as bootstrap does, no stack; or a "
        "registered version number or alias (champion), read from MLflow"))] = "local",
    liveness: Annotated[str, typer.Option(help=(
        "assume-live (photos carry no burst) or single-frame (the version's single-frame "
        "detector, as at a gate configured as single-frame)"))] = "assume-live",
    max_impostor_claims: Annotated[int, typer.Option(min=1, help=(
        "judge at most this many impostor claims (sampled); score-level rates use every "
        "pair"))] = 1_000_000,
    seed: Annotated[int, typer.Option(help="seed of the impostor-claim sample")] = 0,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """False accepts and rejects the gate would have on your photos, per attribute."""
    if liveness not in LIVENESS_MODES:
        raise typer.BadParameter(f"one of {', '.join(LIVENESS_MODES)}", param_hint="--liveness")
    settings = load_settings(config)
    try:
        photo_set = read_photo_set(photos, enrollment)
        label_map = read_labels(labels) if labels else {}
    except PhotoSetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    analyzer = _analyzer(settings, model)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        ev = run_evaluation(analyzer, photo_set, liveness=liveness,
                            max_impostor_claims=max_impostor_claims, seed=seed,
                            lookalike_margin=settings.checkin.lookalike_margin,
                            cohort_check=settings.checkin.cohort_check,
                            cohort_threshold=settings.checkin.cohort_threshold, progress=tick)
    result = summarise(ev, analyzer, label_map, liveness=liveness)
    result.update(photos=str(photos), target_far=analyzer.thresholds.accept_far, note=NOTE)
    _print(result)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {json_out}")
    if report is not None:
        console.print(f"wrote {write_report(result, report)}")
