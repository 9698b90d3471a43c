"""``examgate embed IMAGE... --out FILE.npz``: embeddings, or why there is none, per path.

The NPZ holds ``paths`` (str), ``embeddings`` (N, D float32, NaN rows where
there is none), ``ok`` (bool), ``reasons`` (str: "" when ok, else a decode
reason such as ``CORRUPT`` or quality reasons joined by ``,``), ``detector``,
``embedder`` and their SHA-256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from examgate.core.settings import load_settings
from examgate.vision.errors import VisionError
from examgate.vision.pipeline import FacePipeline

embed_app = typer.Typer(help="Face embeddings of image files.")
_console = Console(stderr=True)


def embed_files(pipeline: FacePipeline, paths: list[Path], *, allow_low_quality: bool = False,
                ) -> tuple[np.ndarray, list[str]]:
    """Embeddings (NaN rows where none) and reasons ("" when ok) for image files."""
    out = np.full((len(paths), pipeline.embedder.dim), np.nan, dtype=np.float32)
    reasons: list[str] = []
    for i, path in enumerate(paths):
        try:
            result = pipeline.run(path.read_bytes())
        except OSError as exc:
            reasons.append(f"UNREADABLE: {exc.strerror or exc}")
            continue
        except VisionError as exc:
            reasons.append(exc.reason)
            continue
        reason = ",".join(result.quality_failures)
        if result.embedding is not None and (result.verdict.ok or allow_low_quality):
            out[i] = result.embedding
        reasons.append(reason)
    return out, reasons


@embed_app.command("embed")
def embed(
    images: Annotated[list[Path], typer.Argument(help="image files (JPEG, PNG, WebP, BMP)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="NPZ file to write")],
    allow_low_quality: Annotated[bool, typer.Option(
        help="also write embeddings of faces that fail a quality gate (reasons still listed)",
    )] = False,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Embed each image's main face; record a reason for every image without one."""
    settings = load_settings(config).vision
    pipeline = FacePipeline.from_settings(settings)
    embeddings, reasons = embed_files(pipeline, images, allow_low_quality=allow_low_quality)
    ok = ~np.isnan(embeddings).any(axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        np.savez(fh, paths=np.array([str(p) for p in images]), embeddings=embeddings, ok=ok,
                 reasons=np.array(reasons), detector=np.array(settings.detector),
                 embedder=np.array(settings.embedder),
                 detector_sha256=np.array(pipeline.detector.model_sha256 or ""),
                 embedder_sha256=np.array(pipeline.embedder.model_sha256 or ""))
    for path, good, reason in zip(images, ok, reasons, strict=True):
        status = "[green]ok[/green]" if good else f"[yellow]{reason}[/yellow]"
        if good and reason:
            status += f" [yellow]({reason})[/yellow]"
        _console.print(f"{path}: {status}")
    _console.print(f"{int(ok.sum())}/{len(images)} embedded -> {out}")


if __name__ == "__main__":
    typer.run(embed)
