"""How decisions read on screen: labels, times, quality rows, the score scale and the liveness
evidence (no I/O)."""

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


# Codes whose plain spelling would not tell a proctor what happened.
_WORDS = {
    "PRESENTATION_ATTACK": "Presentation attack (photo or screen)",
    "LIVENESS_UNCERTAIN": "Liveness uncertain",
    "LOOKALIKE": "Resembles another enrolled student",
}

# Each liveness signal with the fired names that light its row (a fired name may differ from
# the measure it rests on: planar_motion fires on planarity).
_SIGNALS: tuple[tuple[str, str, Callable[[float], str], frozenset[str]], ...] = (
    ("antispoof", "Single-frame detector", lambda v: f"{v:.3f}",
     frozenset({"antispoof", "single_frame"})),
    ("motion_px", "Motion", lambda v: f"{v:.1f} px", frozenset({"motion_px", "no_motion"})),
    ("planarity", "Planar motion", lambda v: f"{v:.3f}",
     frozenset({"planarity", "planar_motion"})),
    ("edges", "Paper/screen edge", lambda v: f"{v:.3f}", frozenset({"edges", "edge"})),
    ("moire", "Moiré", lambda v: f"{v:.3f}", frozenset({"moire"})),
    ("glare", "Glare", lambda v: f"{v:.3f}", frozenset({"glare"})),
)
_FIRED_WORDS = {
    "antispoof": "single-frame detector", "single_frame": "single-frame detector",
    "planar_motion": "planar motion", "planarity": "planar motion",
    "edges": "paper/screen edge", "edge": "paper/screen edge", "moire": "moiré",
    "glare": "glare", "no_motion": "no motion", "motion_px": "no motion",
}
_VERDICTS = {"LIVE": ("Live", "accept"), "UNCERTAIN": ("Uncertain", "review"),
             "ATTACK": ("Presentation attack", "reject"),
             "NOT_CHECKED": ("Liveness not checked", "unchecked")}


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
    return _WORDS.get(code) or code.replace("_", " ").capitalize()


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


@dataclass(frozen=True)
class SignalRow:
    """One liveness signal's value, and whether it voted attack."""

    label: str
    value: str
    fired: bool


_WHY_WORDS = {
    "too little motion": "the student held still, and a still face cannot be told from a "
                         "photo held still. Look at the burst; if in doubt, ask them to turn "
                         "their head slightly and check in again.",
    "too little relief": "the face moved, but what depth its motion showed was within the "
                         "camera's noise, as when a photo or a bent print moves.",
    "motion too flat": "the face moved, but as flat as a photo or a bent print moves.",
    "motion too fast": "the face moved too fast between the frames to measure its depth; "
                       "a student standing at the gate does not, a swung photo or screen "
                       "does.",
    "a signal near firing": "an attack signal came close to firing, so the motion was not "
                            "taken as proof of a live face.",
    "one frame only": "no usable burst: the single-frame detector alone, which cannot pass "
                      "here.",
    "score below the pass threshold": "the live score stayed below the pass threshold.",
}


@dataclass(frozen=True)
class LivenessView:
    """The liveness evidence of a decision as the card shows it."""

    verdict: str  # LIVE, UNCERTAIN, ATTACK or NOT_CHECKED
    words: str
    band: str  # accept, review, reject or unchecked: the colours of the verdict
    score: float | None = None
    pass_threshold: float | None = None
    attack_threshold: float | None = None
    frames: int = 0
    single_frame: bool = False
    fired: tuple[str, ...] = ()
    signals: tuple[SignalRow, ...] = ()
    models: str = ""
    note: str = ""  # why there is no evidence, when there is none
    why: str = ""  # why the face did not pass, as the check named it (Decision v4 on)

    @property
    def why_words(self) -> str:
        """What ``why`` means for the proctor at the desk."""
        if self.why.startswith("fired"):
            return "an attack signal fired: see the signals below and the burst."
        return _WHY_WORDS.get(self.why, "")

    @property
    def checked(self) -> bool:
        """Whether there is liveness evidence to show at all."""
        return self.verdict != "NOT_CHECKED"

    @property
    def has_scale(self) -> bool:
        """Whether the score bar can be drawn."""
        return None not in (self.score, self.pass_threshold, self.attack_threshold)

    def x(self, value: float | None) -> float:
        """Where ``value`` (a score in [0, 1]) sits on the 0-100 bar."""
        return round(max(0.0, min(100.0, (value or 0.0) * 100)), 2)


def fired_words(name: str) -> str:
    """A signal that voted attack, in the proctor's words (``planar_motion`` -> planar motion)."""
    return _FIRED_WORDS.get(name) or name.replace("_", " ")


def signal_rows(signals: Record | None, fired: list[str] | tuple[str, ...]) -> list[SignalRow]:
    """The measured signals, known ones first in a fixed order, the others by name."""
    signals, lit = dict(signals or {}), set(fired)
    rows = []
    for name, words, fmt, fires in _SIGNALS:
        value = signals.pop(name, None)
        if value is not None:
            rows.append(SignalRow(words, fmt(value), bool(lit & fires)))
    for name in sorted(signals):
        rows.append(SignalRow(fired_words(name).capitalize(), f"{signals[name]:.3f}",
                              name in lit))
    return rows


def liveness_view(liveness: Record | None) -> LivenessView:
    """The liveness panel of a decision; "not checked" when it carries no evidence (version 1
    records, no face found, or a model version without liveness)."""
    if not liveness:
        return LivenessView("NOT_CHECKED", *_VERDICTS["NOT_CHECKED"],
                            note="No liveness evidence on this decision (an older record, no "
                                 "face found, or a model version without liveness).")
    verdict = liveness.get("verdict") or "NOT_CHECKED"
    words, band = _VERDICTS.get(verdict, (label(verdict), "unchecked"))
    fired = list(liveness.get("fired") or [])
    return LivenessView(
        verdict, words, band, score=liveness.get("score"),
        pass_threshold=liveness.get("pass_threshold"),
        attack_threshold=liveness.get("attack_threshold"),
        frames=int(liveness.get("frames") or 0),
        single_frame=bool(liveness.get("single_frame")),
        fired=tuple(dict.fromkeys(fired_words(f) for f in fired)),
        signals=tuple(signal_rows(liveness.get("signals"), fired)),
        models=liveness.get("models") or "",
        why=liveness.get("why") or "",
        note="" if verdict != "NOT_CHECKED" else "No valid live score was measured.")
