"""LFW benchmark: View 2 10-fold accuracy, TAR@FAR over all pairs, gender slices, speed.

Run ``python -m benchmarks.lfw --json results/lfw.json --plot results/lfw.png``
or, mounted in the main CLI, ``examgate bench lfw``. Numbers are printed and
written; nothing is asserted (tests assert behaviour, benchmarks measure).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import onnxruntime as ort
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from benchmarks.lfw_heldout import heldout_report
from benchmarks.lfw_metrics import kfold_accuracy, pair_scores, percentiles, tar_far_report
from benchmarks.report import write_results
from examgate.core.settings import load_settings
from examgate.models.bootstrap import calibration_identities, calibration_images
from examgate.models.lfw import (
    LfwMissingError,
    central_face,
    embed_images,
    people,
    person_of,
    read_genders,
    read_pairs,
    require_lfw,
)
from examgate.vision.align import align_face
from examgate.vision.decode import decode_image
from examgate.vision.detectors import create_detector
from examgate.vision.embedders import create_embedder
from examgate.vision.embedders.base import l2_normalise

console = Console(stderr=True)
NO_FACE_HANDLING = ("no face detected: aligned with the median landmarks of the faces found "
                    "in the same run (LFW faces are centred); several faces: the one nearest "
                    "the image centre")


def _detector(name: str, threads: int, cache_dir: Path | None = None,
              onet_path: Path | None = None) -> Any:
    return create_detector(name, num_threads=threads, cache_dir=cache_dir, onet_path=onet_path)


def heldout_names(lfw_dir: Path) -> tuple[list[str], list[str]]:
    """The calibration split's images, and every image of the identities outside it."""
    cal = calibration_images(lfw_dir)
    seen = calibration_identities(lfw_dir)
    held = sorted(f"{p}/{Path(f).name}" for p, files in people(lfw_dir).items() if p not in seen
                  for f in files)
    return cal, held


def embed_heldout(embedder: Any, out: Path, limit: int | None = None) -> None:
    """Plain embeddings and mirrored templates of the calibration split and the held-out
    people (9,991 images), one served detection and alignment per image, saved to ``out``
    (``names``, ``plain``, ``templates``) for the trials that report on them."""
    settings = load_settings(None)
    vision, lfw = settings.vision, settings.data.lfw_dir
    cal, held = heldout_names(lfw)
    names = (cal + held)[:limit]
    detector = _detector(vision.detector, 1, vision.model_cache_dir, vision.onet_path)
    started = time.time()
    with Progress() as bar:
        task = bar.add_task(f"embedding {len(names)} images", total=len(names))
        result = embed_images(lfw, names, detector, embedder, align_method=vision.align_method,
                              progress=lambda n: bar.advance(task, n), mirror=True)
    assert result.templates is not None
    np.savez(out, names=np.array(names), plain=result.embeddings, templates=result.templates)
    print(f"{len(names)} images embedded in {time.time() - started:.0f} s "
          f"({len(result.no_face)} without a detected face) -> {out}")


@dataclass(frozen=True)
class HeldoutEmbeddings:
    """What :func:`embed_heldout` saved, split as ``bench lfw`` splits it."""

    names: list[str]
    plain: np.ndarray  # L2-normalised, one row per image
    templates: np.ndarray  # the mirrored templates, likewise
    cal: list[int]  # rows of the calibration split
    held: list[int]  # rows of the people outside it

    def served_thresholds(self, genders: dict[str, str]) -> dict[str, Any]:
        """The thresholds ``bootstrap`` calibrates on the calibration rows (the served rule)."""
        fit = heldout_report([self.names[i] for i in self.cal], self.plain[self.cal],
                             [self.names[i] for i in self.held], self.plain[self.held], genders,
                             cal_templates=self.templates[self.cal],
                             held_templates=self.templates[self.held])
        return dict(fit["heldout"]["thresholds"])

    def first_photos(self, rows: list[int]) -> dict[str, int]:
        """Each person's first row among ``rows``: their enrollment photo."""
        first: dict[str, int] = {}
        for i in rows:
            first.setdefault(person_of(self.names[i]), i)
        return first


def read_heldout(path: Path, lfw_dir: Path, first: int | None = None) -> HeldoutEmbeddings:
    """:func:`embed_heldout`'s file (``first``: only the first columns, e.g. one model's)."""
    stored = np.load(path)
    names = [str(n) for n in stored["names"]]
    plain, templates = (l2_normalise(stored[k][:, :first]) for k in ("plain", "templates"))
    cal_set = set(heldout_names(lfw_dir)[0])
    return HeldoutEmbeddings(names, plain, templates,
                             [i for i, n in enumerate(names) if n in cal_set],
                             [i for i, n in enumerate(names) if n not in cal_set])


def measure_throughput(images: list[np.ndarray], detector: Callable[[int], Any], embedder: str,
                       flip: bool, threads: int, batch: int = 8) -> float:
    """Images per second for detect + align + batched embed with ``threads`` intra-op threads."""
    det = detector(threads)
    emb = create_embedder(embedder, intra_op_threads=threads, flip=flip, max_batch=batch)
    emb.embed(np.zeros((1, emb.input_size, emb.input_size, 3), np.uint8))  # warm-up
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        faces = [central_face(det.detect(im), im.shape) for im in chunk]
        aligned = [align_face(im, f, emb.input_size) for im, f in zip(chunk, faces, strict=True)
                   if f is not None]
        if aligned:
            emb.embed(np.stack(aligned))
    return len(images) / (time.perf_counter() - start)


def measure_two_workers(images: list[np.ndarray], detector: Callable[[int], Any], embedder: str,
                        flip: bool) -> float:
    """Images per second with two single-threaded workers, each with its own models."""
    cv2.setNumThreads(1)
    halves = [images[0::2], images[1::2]]
    models = [(detector(1), create_embedder(embedder, flip=flip))
              for _ in halves]

    def work(k: int) -> None:
        det, emb = models[k]
        for im in halves[k]:
            face = central_face(det.detect(im), im.shape)
            if face is not None:
                emb.embed(align_face(im, face, emb.input_size)[None])

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, range(2)))
    return len(images) / (time.perf_counter() - start)


def run_lfw_benchmark(lfw_dir: Path, *, detector: str = "yunet_onet", embedder: str = "sface",
                      folds: int = 10, flip: bool = False, pairs_file: str = "pairs.txt",
                      throughput_images: int = 256, show_progress: bool = True,
                      align_method: str = "lsq", cache_dir: Path | None = None,
                      curves_out: dict[str, Any] | None = None,
                      onet_path: Path | None = None, heldout: bool = True,
                      mirror_templates: bool = False) -> dict[str, Any]:
    """Run the whole LFW benchmark and return its numbers, a JSON-ready dict.

    ``curves_out``, when given, receives the genuine and impostor scores per
    slice ("all", "female", "male") for plotting. ``heldout`` adds the FAR at the
    served thresholds on identities the calibration never saw (:mod:`lfw_heldout`).
    ``mirror_templates`` scores every pair as the gate does with mirrored templates: one
    image's template (:meth:`Embedder.embed_with_mirror`) against the other image.
    """
    require_lfw(lfw_dir, pairs_file)
    pairs = read_pairs(lfw_dir / pairs_file)
    n_folds = len({p.fold for p in pairs})
    if folds < n_folds:
        if folds < 2:
            raise ValueError("--folds needs at least 2 folds (threshold on the others)")
        pairs = [p for p in pairs if p.fold < folds]
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    cal_names, held_names = heldout_names(lfw_dir) if heldout else ([], [])
    every = sorted(set(names) | set(cal_names) | set(held_names))
    at = {n: i for i, n in enumerate(every)}
    index = {n: i for i, n in enumerate(names)}

    cv2.setNumThreads(1)

    def new_detector(threads: int) -> Any:
        return _detector(detector, threads, cache_dir, onet_path)

    det = new_detector(1)
    emb = create_embedder(embedder, intra_op_threads=1, flip=flip)
    emb.embed(np.zeros((1, emb.input_size, emb.input_size, 3), np.uint8))
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  disable=not show_progress) as bar:
        task = bar.add_task(f"embedding {len(every)} images", total=len(every))
        embedded = embed_images(lfw_dir, every, det, emb, align_method=align_method,
                                progress=lambda n: bar.advance(task, n),
                                mirror=mirror_templates)
    all_emb, all_tpl = embedded.embeddings, embedded.templates

    def rows(of: np.ndarray | None, which: list[str]) -> np.ndarray | None:
        return None if of is None else of[[at[n] for n in which]]

    view, view_tpl = all_emb[[at[n] for n in names]], rows(all_tpl, names)
    scores = pair_scores(pairs, index, view, view_tpl)
    result: dict[str, Any] = {"detector": detector, "embedder": embedder, "flip_tta": flip,
                              "mirror_templates": mirror_templates,
                              "align_method": align_method,
                              "pairs_file": pairs_file, "folds": len({p.fold for p in pairs}),
                              "n_pairs": len(pairs), "n_images": len(names)}
    result.update(kfold_accuracy(pairs, scores))
    genders = read_genders(lfw_dir)
    result.update(tar_far_report(names, view, genders, pairs, scores, view_tpl))
    if heldout:
        result.update(heldout_report(cal_names, all_emb[[at[n] for n in cal_names]],
                                     held_names, all_emb[[at[n] for n in held_names]], genders,
                                     rows(all_tpl, cal_names), rows(all_tpl, held_names)))
    result["no_face"] = len(embedded.no_face)
    result["no_face_images"] = embedded.no_face
    result["no_face_handling"] = NO_FACE_HANDLING
    pct = percentiles(embedded.ms_detect_align_embed)
    result["ms_per_image_p50"], result["ms_per_image_p95"] = pct[50], pct[95]
    result["ms_by_stage_p50"] = {k: percentiles(np.asarray(v))[50]
                                 for k, v in embedded.ms_by_stage.items()}

    if throughput_images > 0:
        sample = [decode_image((lfw_dir / "images" / n).read_bytes())
                  for n in names[:throughput_images]]
        result["images_per_s_by_threads"] = {
            str(t): measure_throughput(sample, new_detector, embedder, flip, t)
            for t in (1, 2)
        }
        result["images_per_s_two_workers"] = measure_two_workers(sample, new_detector,
                                                                 embedder, flip)
        cv2.setNumThreads(1)
    result["models"] = {"detector_sha256": det.model_sha256, "embedder_sha256": emb.model_sha256}
    curves = result.pop("_curves")
    if curves_out is not None:
        curves_out.update(curves)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "opencv": cv2.__version__, "onnxruntime": ort.__version__}
    return result


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"LFW {result['pairs_file']}: {result['detector']} + "
                        f"{result['embedder']}{' + flip' if result['flip_tta'] else ''}"
                        f"{' (mirrored templates)' if result.get('mirror_templates') else ''}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    table.add_row(f"accuracy ({result['folds']}-fold)",
                  f"{pct(result['accuracy'])} ± {pct(result['accuracy_std'])}")
    for k, v in result["tar_at_far"].items():
        table.add_row(f"TAR @ FAR {k} (all pairs)", pct(v))
        table.add_row(f"  threshold @ FAR {k}", f"{result['threshold_at_far'][k]:.4f}")
        for g, rates in result["tar_at_far_by_gender"].items():
            table.add_row(f"  {g}: TAR / FAR", f"{pct(rates[k])} / "
                          f"{result['far_by_gender'][g][k]:.2e}")
    for key, label in (("heldout_raw", "one threshold"), ("heldout", "served: every gender")):
        if key not in result:
            continue
        h = result[key]
        by = h["far_at_accept_by_gender"]
        table.add_row(f"held-out people, {label}: accept >= {h['thresholds']['accept']:.4f}",
                      f"FAR {h['far_at_accept']:.2e}, TAR {pct(h['tar_at_accept'])}")
        table.add_row("  women / men: FAR", " / ".join(f"{by[g]:.2e}" for g in by))
    table.add_row("no face detected", str(result["no_face"]))
    table.add_row("ms/image detect+align+embed p50 / p95 (1 thread)",
                  f"{result['ms_per_image_p50']:.1f} / {result['ms_per_image_p95']:.1f}")
    for t, v in result.get("images_per_s_by_threads", {}).items():
        table.add_row(f"images/s batched, {t} thread(s)", f"{v:.1f}")
    if "images_per_s_two_workers" in result:
        table.add_row("images/s, 2 workers x 1 thread", f"{result['images_per_s_two_workers']:.1f}")
    Console().print(table)


def lfw(
    lfw_dir: Annotated[Path | None, typer.Option(help="LFW folder (default: settings)")] = None,
    detector: Annotated[str | None, typer.Option(help="detector name")] = None,
    embedder: Annotated[str | None, typer.Option(help="embedder name")] = None,
    folds: Annotated[int, typer.Option(min=2, max=10, help="use the first N folds")] = 10,
    flip: Annotated[bool | None, typer.Option(help="flip test-time augmentation")] = None,
    pairs_file: Annotated[str, typer.Option(help="pairs.txt, or a View 1 file")] = "pairs.txt",
    throughput_images: Annotated[int, typer.Option(help="images for images/s; 0 skips")] = 256,
    json_out: Annotated[Path, typer.Option("--json", help="write results here")] = Path(
        "results/lfw.json"),
    plot: Annotated[Path, typer.Option(help="ROC/DET plot PNG ('none' skips)")] = Path(
        "results/lfw.png"),
    align_method: Annotated[str | None, typer.Option(help="lsq or lmeds")] = None,
    heldout: Annotated[bool, typer.Option(help=(
        "also FAR at the served thresholds on identities outside the calibration split, "
        "overall and by gender (embeds ~10,000 more images)"))] = True,
    mirror_templates: Annotated[bool | None, typer.Option(help=(
        "score pairs as the gate does with mirror-averaged enrollment templates "
        "(default: settings)"))] = None,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """LFW View 2: 10-fold accuracy, TAR@FAR 1e-3/1e-4 over all pairs, gender gap, speed."""
    settings = load_settings(config)
    vision = settings.vision
    curves: dict[str, Any] = {}
    try:
        result = run_lfw_benchmark(
            lfw_dir or settings.data.lfw_dir, detector=detector or vision.detector,
            embedder=embedder or vision.embedder, folds=folds,
            flip=vision.flip_tta if flip is None else flip, pairs_file=pairs_file,
            throughput_images=throughput_images,
            align_method=align_method or vision.align_method, cache_dir=vision.model_cache_dir,
            onet_path=vision.onet_path, heldout=heldout,
            mirror_templates=vision.mirror_templates if mirror_templates is None
            else mirror_templates,
            curves_out=curves,
        )
    except LfwMissingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print(result)

    def draw(path: Path) -> None:
        from benchmarks.lfw_plot import plot_roc_det

        plot_roc_det(curves, result, path)

    write_results(result, json_out, console, plot, draw)

if __name__ == "__main__":
    typer.run(lfw)
