"""How decisions read on screen: labels, times, quality rows and the score scale (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Record = dict[str, Any]

# Each measure with the quality checks that judge it, so a failed check lights its row.
_QUALITY: tuple[tuple[str, str, Callable[[float], str], frozenset[str]], ...] = (
    ("face_count", "Faces found", lambda v: f"{v:.0f}",
     frozenset({"NO_FACE", "MULTIPLE_FACES"})),
    ("face_size_px", "Face size", lambda v: f"{v:.0f} px", frozenset({"FACE_TOO_SMALL"})),
    ("sharpness", "Sharpness", lambda v: f"{v:.1f}", frozenset({"BLURRY"})),
    ("brightness", "Brightness", lambda v: f"{v:.0f} / 255",
     frozenset({"TOO_DARK", "OVEREXPOSED"})),
    ("clipped_fraction", "Blown-out pixels", lambda v: f"{v:.0%}",
     frozenset({"OVEREXPOSED"})),
    ("yaw_deg", "Head turn (yaw)", lambda v: f"{v:+.0f}°", frozenset({"POSE"})),
    ("roll_deg", "Head tilt (roll)", lambda v: f"{v:+.0f}°", frozenset({"POSE"})),
    ("detector_confidence", "Detector confidence", lambda v: f"{v:.2f}",
     frozenset({"LOW_CONFIDENCE"})),
)


@dataclass(frozen=True)
class QualityRow:
    """One measure of the captured face, and whether a quality gate failed on it."""

    label: str
    value: str
    failed: bool


@dataclass(frozen=True)
class ScoreScale:
    """Where the similarity and the two thresholds sit on a 0-100 scale, for the score bar."""

    similarity: float
    reject: float
    accept: float
    score_x: float
    reject_x: float
    accept_x: float

    @property
    def band(self) -> str:
        """Which side of the thresholds the score fell on."""
        if self.similarity >= self.accept:
            return "accept"
        return "reject" if self.similarity < self.reject else "review"


def label(code: str) -> str:
    """An enum symbol in words: ``UNCERTAIN_MATCH`` -> ``Uncertain match``."""
    return code.replace("_", " ").capitalize()


def clock(when: datetime | None, zone: str) -> str:
    """``HH:MM:SS`` in the console's time zone."""
    if when is None:
        return ""
    return when.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


def stamp(when: datetime | None, zone: str) -> str:
    """Date and time in the console's time zone, with the zone's abbreviation."""
    if when is None:
        return ""
    return when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def quality_rows(quality: Record | None) -> list[QualityRow]:
    """The measures the decision carries, failed gates marked; empty when it has none."""
    if not quality:
        return []
    failed = set(quality.get("failed") or [])
    rows = []
    for field, name, fmt, checks in _QUALITY:
        value = quality.get(field)
        if value is not None:
            rows.append(QualityRow(name, fmt(value), bool(failed & checks)))
    return rows


def failed_checks(quality: Record | None) -> list[str]:
    """The quality gates that failed, in words."""
    return [label(f) for f in (quality or {}).get("failed") or []]


def score_scale(similarity: float | None, thresholds: Record | None) -> ScoreScale | None:
    """The score bar's geometry; None when there is no score or no thresholds to show."""
    if similarity is None or not thresholds:
        return None
    lo = min(0.0, similarity, thresholds["reject"]) - 0.05
    hi = 1.0

    def x(v: float) -> float:
        return round(max(0.0, min(100.0, (v - lo) / (hi - lo) * 100)), 2)

    return ScoreScale(similarity, thresholds["reject"], thresholds["accept"], x(similarity),
                      x(thresholds["reject"]), x(thresholds["accept"]))
