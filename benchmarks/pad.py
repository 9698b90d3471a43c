"""Presentation-attack detection benchmark (ISO/IEC 30107-3 metrics), in process.

Every instrument of :mod:`examgate.augment.bursts` (bona fide micro-motion, printed
photos still and hand-held, cut-out prints, phone and tablet replays, a genuine
burst replayed on a screen) presents LFW photos of identities outside the
calibration split to the served liveness check: the gate's burst JPEG-encoded
as a gate sends it, the primary frame's face found by the served detector,
the thresholds calibrated as ``examgate models bootstrap`` does. It reports
APCER per attack type, BPCER, BPCER at APCER 1% and 5%, the score
distributions (plot), the added milliseconds per check-in, and the bona fide
error of the single-frame detector alone on LFW's real (news) photographs.

The attacks are synthetic: they exercise the whole path and catch regressions;
they do not certify the detector against real prints, screens or masks.

Run ``examgate bench pad`` (or ``python -m benchmarks.pad``). Numbers are
printed and written; nothing is asserted.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import onnxruntime as ort
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from benchmarks.pad_metrics import (
    apcer,
    bpcer,
    bpcer_at_apcer,
    quantiles,
    threshold_at_apcer,
    verdict_counts,
)
from benchmarks.pad_second_look import second_look_report, wants_second_look
from benchmarks.report import write_results
from examgate.augment import ATTACK_FAMILY, burst_names, render_burst
from examgate.augment.prompted import moved, prompted_params
from examgate.core.settings import Settings, load_settings
from examgate.models import lfw
from examgate.models.bootstrap import calibration_identities, calibration_images
from examgate.models.liveness_calibration import calibrate_liveness, liveness_files
from examgate.vision.detectors import detector_from_settings
from examgate.vision.liveness import LivenessChecker, LivenessEvidence

console = Console(stderr=True)
BONA_FIDE = "bona_fide"
SYNTHETIC = ("synthetic presentations rendered from LFW photos (examgate.augment.bursts): "
             "they exercise the whole path and catch regressions, they do not certify")


def evaluation_images(settings: Settings, n: int, seed: int) -> list[str]:
    """``n`` LFW image paths of identities outside the calibration split, one per person
    while people last, drawn with ``seed``."""
    excluded = calibration_identities(settings.data.lfw_dir)
    people = {k: v for k, v in lfw.people(settings.data.lfw_dir).items() if k not in excluded}
    rng = np.random.default_rng(seed)
    order = [list(people)[i] for i in rng.permutation(len(people))]
    out: list[str] = []
    turn = 0
    while len(out) < n and order:
        for person in order:
            images = people[person]
            if turn < len(images):
                out.append(images[turn])
                if len(out) == n:
                    break
        turn += 1
        if turn > max(len(v) for v in people.values()):
            break
    return out


def _jpeg(frame: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a rendered frame did not decode")
    return np.asarray(image)


def _read(path: str) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image)


class Bench:
    """The served detector and liveness checker, and what they measured."""

    def __init__(self, settings: Settings, pass_threshold: float) -> None:
        v = settings.vision
        self.detector = detector_from_settings(v)
        self.checker = LivenessChecker.from_files(liveness_files(settings), v.liveness,
                                                  threads=v.intra_op_threads)
        self.scores: dict[str, list[float]] = {}
        self.fired: dict[str, dict[str, int]] = {}
        self.no_face: dict[str, int] = {}
        self.bona_fide_refused: dict[str, int] = {}  # why a live face did not pass
        self.pass_threshold = pass_threshold  # below it, a live face's refusal is explained
        self.ms_liveness: list[float] = []
        self.ms_added: list[float] = []

    def look(self, instrument: str, image: np.ndarray, rng: np.random.Generator,
             frames: int, params: dict[str, Any] | None = None
             ) -> tuple[LivenessEvidence, float, float] | None:
        """Render, encode as a gate would, decode, detect, check: the evidence, the ms
        added (decoding the burst + the check) and the check's ms; None without a face."""
        burst = [_jpeg(f) for f in render_burst(instrument, image, rng, frames=frames,
                                                params=params)]
        primary = _decode(burst[0])
        faces = self.detector.detect(primary)
        if not faces:
            return None
        t0 = time.perf_counter()
        extra = [_decode(b) for b in burst[1:]]
        t1 = time.perf_counter()
        evidence = self.checker.check(primary, faces[0], extra)
        t2 = time.perf_counter()
        return evidence, (t2 - t0) * 1000.0, (t2 - t1) * 1000.0

    def present(self, instrument: str, image: np.ndarray, rng: np.random.Generator,
                frames: int, params: dict[str, Any] | None = None) -> LivenessEvidence | None:
        """One presentation, measured and counted."""
        seen = self.look(instrument, image, rng, frames, params)
        if seen is None:
            self.no_face[instrument] = self.no_face.get(instrument, 0) + 1
            return None
        evidence, ms_added, ms_liveness = seen
        self.ms_liveness.append(ms_liveness)
        self.ms_added.append(ms_added)
        self.scores.setdefault(instrument, []).append(evidence.score)
        if instrument == BONA_FIDE and evidence.score < self.pass_threshold:
            why = evidence.why or "score below pass"  # the checker's own words
            self.bona_fide_refused[why] = self.bona_fide_refused.get(why, 0) + 1
        counts = self.fired.setdefault(instrument, {})
        for name in evidence.fired:
            counts[name] = counts.get(name, 0) + 1
        return evidence

    def single_frame(self, paths: list[str]) -> list[float]:
        """The single-frame score (no burst) of each LFW photo as it is."""
        out = []
        for path in track(paths, description="LFW photos, single frame", console=console):
            image = _read(path)
            faces = self.detector.detect(image) if image is not None else []
            if image is not None and faces:
                out.append(self.checker.check(image, faces[0], []).score)
        return out


def run_pad(settings: Settings, *, attempts: int, bona_fide: int, frames: int,
            lfw_single: int, seed: int, second_look: bool = True,
            attack_movement: float = 1.0) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Measure every instrument; the result and each instrument's scores. ``second_look``
    adds the per-transaction rates of a gate that asks a too-still face to turn
    (:mod:`benchmarks.pad_second_look`); ``attack_movement`` scales how much every
    attacker moves the print or screen (1: the instruments' defaults)."""
    lfw.require_lfw(settings.data.lfw_dir)
    cal = calibrate_liveness(settings, calibration_images(settings.data.lfw_dir))
    bench = Bench(settings, cal.pass_threshold)
    instruments = burst_names()
    plan = [(BONA_FIDE, bona_fide)] + [(n, attempts) for n in instruments if n != BONA_FIDE]
    images = [im for p in evaluation_images(settings, max(bona_fide, attempts), seed)
              if (im := _read(p)) is not None]
    rng = np.random.default_rng(seed)
    work = [(name, images[i % len(images)]) for name, n in plan for i in range(n)]
    p, a = cal.pass_threshold, cal.attack_threshold
    again_rng = np.random.default_rng(seed + 2)  # first looks draw as without second looks
    final: dict[str, list[float]] = {}
    taken: dict[str, int] = {}
    for name, image in track(work, description="presentations", console=console):
        params = None if name == BONA_FIDE else moved(name, attack_movement)
        evidence = bench.present(name, image, rng, frames, params)
        if evidence is None:
            continue
        score = evidence.score
        if second_look and wants_second_look(evidence, p, a):
            taken[name] = taken.get(name, 0) + 1
            again = bench.look(name, image, again_rng, frames,
                               prompted_params(name, attack_movement))
            score = score if again is None else again[0].score  # no face: still REVIEW
        final.setdefault(name, []).append(score)
    attacks = {n: bench.scores.get(n, []) for n, _ in plan if n != BONA_FIDE}
    live = bench.scores.get(BONA_FIDE, [])
    single = bench.single_frame(evaluation_images(settings, lfw_single, seed + 1))
    result: dict[str, Any] = {
        "note": SYNTHETIC,
        "thresholds": {"pass": p, "attack": a, "calibration": cal.spec()},
        "frames_per_presentation": frames,
        "attack_movement": attack_movement,
        "apcer": apcer(attacks, p),
        "apcer_by_family": _by_family(attacks, p),
        "bpcer": bpcer(live, p),
        "bpcer_review": verdict_counts(live, p, a)["UNCERTAIN"] / max(1, len(live)),
        "bpcer_reject": verdict_counts(live, p, a)["ATTACK"] / max(1, len(live)),
        "bpcer_at_apcer": bpcer_at_apcer(live, attacks),
        "threshold_at_apcer": {f"{t:g}": threshold_at_apcer(attacks, t) for t in (0.01, 0.05)},
        "attempts": {n: len(s) for n, s in attacks.items()},
        "bona_fide_attempts": len(live),
        "no_face": bench.no_face,
        "verdicts": {n: verdict_counts(s, p, a) for n, s in bench.scores.items()},
        "bona_fide_refused_because": dict(sorted(bench.bona_fide_refused.items(),
                                                 key=lambda kv: -kv[1])),
        "signals_fired": bench.fired,
        "score_quantiles": {n: quantiles(s) for n, s in bench.scores.items()},
        "ms_added_p50": float(np.median(bench.ms_added)) if bench.ms_added else None,
        "ms_added_p95": float(np.quantile(bench.ms_added, 0.95)) if bench.ms_added else None,
        "ms_liveness_p50": float(np.median(bench.ms_liveness)) if bench.ms_liveness else None,
        "lfw_single_frame": _single_frame_report(single, p, a),
        "second_look": second_look_report(final, taken, p, a) if second_look else None,
        "intra_op_threads": settings.vision.intra_op_threads,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "opencv": cv2.__version__, "onnxruntime": ort.__version__},
    }
    return result, {**bench.scores, "lfw_single_frame": single}


def _by_family(attacks: dict[str, list[float]], threshold: float) -> dict[str, float]:
    pooled: dict[str, list[float]] = {}
    for name, scores in attacks.items():
        pooled.setdefault(ATTACK_FAMILY.get(name, name), []).extend(scores)
    return apcer(pooled, threshold)


def _single_frame_report(scores: list[float], p: float, a: float) -> dict[str, Any]:
    counts = verdict_counts(scores, p, a)
    n = max(1, len(scores))
    return {"photos": len(scores), "bpcer": bpcer(scores, p), "verdicts": counts,
            "rejected_as_attack": counts["ATTACK"] / n, "score_quantiles": quantiles(scores),
            "what": "LFW news photos (250x250, often cropped at the frame edge) scored by the "
                    "single-frame path alone, as at a gate configured as single-frame"}


def _print(result: dict[str, Any]) -> None:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    table = Table(title=f"Presentation-attack detection ({result['frames_per_presentation']} "
                        f"frames; pass >= {result['thresholds']['pass']:.3f}, attack < "
                        f"{result['thresholds']['attack']:.3f}"
                        + (f"; attackers move {result['attack_movement']:g}x"
                           if result["attack_movement"] != 1.0 else "") + ")")
    for col in ("presentation", "attempts", "APCER / BPCER", "LIVE", "UNCERTAIN", "ATTACK"):
        table.add_column(col, justify="left" if col == "presentation" else "right")
    v = result["verdicts"]
    table.add_row("bona fide", str(result["bona_fide_attempts"]), pct(result["bpcer"]),
                  *(str(v.get(BONA_FIDE, {}).get(k, 0)) for k in ("LIVE", "UNCERTAIN", "ATTACK")))
    for name, rate in result["apcer"].items():
        table.add_row(name, str(result["attempts"][name]), pct(rate),
                      *(str(v.get(name, {}).get(k, 0)) for k in ("LIVE", "UNCERTAIN", "ATTACK")))
    Console().print(table)
    single = result["lfw_single_frame"]
    Console().print(
        f"BPCER at APCER 1%: {pct(result['bpcer_at_apcer']['0.01'])}, at 5%: "
        f"{pct(result['bpcer_at_apcer']['0.05'])}; added per check-in p50 "
        f"{result['ms_added_p50'] or 0:.1f} ms (liveness {result['ms_liveness_p50'] or 0:.1f} ms)"
        f"\nlive faces refused because: " + ", ".join(
            f"{k} {v}" for k, v in result["bona_fide_refused_because"].items()) +
        f"\nLFW photos, single frame: BPCER {pct(single['bpcer'])} of {single['photos']} "
        f"({pct(single['rejected_as_attack'])} scored as attacks)\n[dim]{SYNTHETIC}[/dim]")
    look = result.get("second_look")
    if look:
        worst = max(look["apcer"].values(), default=0.0)
        Console().print(
            f"With one second look (prompted turn): BPCER {pct(look['bpcer'])}, worst APCER "
            f"{pct(worst)}; looks taken: " + ", ".join(
                f"{k} {v}" for k, v in look["taken"].items() if v))


def pad(
    attempts: Annotated[int, typer.Option(min=1, help="attempts per attack instrument")] = 60,
    bona_fide: Annotated[int, typer.Option(min=1, help="bona fide presentations")] = 300,
    frames: Annotated[int, typer.Option(min=1, max=9, help="frames per presentation "
                                                           "(primary + burst)")] = 5,
    lfw_single: Annotated[int, typer.Option(min=0, help="LFW photos for the single-frame "
                                                        "bona fide error")] = 500,
    seed: Annotated[int, typer.Option(help="seed of photos and instruments")] = 30107,
    json_out: Annotated[Path, typer.Option("--json", help="write results here")] = Path(
        "results/pad.json"),
    plot: Annotated[Path, typer.Option(help="score distribution PNG ('none' skips)")] = Path(
        "results/pad.png"),
    second_look: Annotated[bool, typer.Option(help=(
        "also measure per transaction: a face refused only for being too still is "
        "prompted to turn and presented again, as a gate offering a second look would"))] = True,
    attack_movement: Annotated[float, typer.Option(min=0.0, max=10.0, help=(
        "how much attackers move prints and screens, times each instrument's default "
        "(within its bounds): 3 is a vigorous shake"))] = 1.0,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Presentation attacks: APCER per attack type, BPCER, BPCER at APCER 1%/5%, cost."""
    settings = load_settings(config)
    try:
        result, scores = run_pad(settings, attempts=attempts, bona_fide=bona_fide,
                                 frames=frames, lfw_single=lfw_single, seed=seed,
                                 second_look=second_look, attack_movement=attack_movement)
    except lfw.LfwMissingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print(result)

    def draw(path: Path) -> None:
        from benchmarks.pad_plot import plot_scores

        plot_scores(scores, result, path)

    write_results(result, json_out, console, plot, draw)

if __name__ == "__main__":
    typer.run(pad)
