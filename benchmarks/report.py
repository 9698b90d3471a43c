"""What every benchmark does with its numbers once measured: write them, then draw them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console


def wants_plot(plot: Path | None) -> bool:
    """False for the ways a user says "no plot" (``none``, ``-``, empty)."""
    return plot is not None and str(plot).lower() not in ("", ".", "none", "-")


def write_results(result: dict[str, Any], json_out: Path, console: Console,
                  plot: Path | None = None, draw: Callable[[Path], None] | None = None) -> None:
    """Write ``result`` as JSON to ``json_out``, then ``draw(plot)`` unless no plot is wanted."""
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {json_out}")
    if draw is not None and plot is not None and wants_plot(plot):
        draw(plot)
        console.print(f"wrote {plot}")
