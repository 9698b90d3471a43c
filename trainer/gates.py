"""Evaluation gates: may a fine-tuned challenger stand beside the champion?

Four gates, each passed, failed or skipped with a reason in words:

(a) ``accuracy``: held-out pair accuracy and TAR at FAR 1e-4 are not lower than
    the champion's beyond a tolerance;
(b) ``targets``: the conditions the challenger was trained for improve
    (skipped, with the reason, when it was trained for none);
(c) ``gender_gap``: the gap between women's and men's TAR and FAR at each
    model's own accept threshold does not widen beyond a tolerance;
(d) ``failure_modes``: on the failure-mode set (masks, dim light, look-alikes)
    the FAR at the accept threshold stays under a bound.

A gate whose measurements are missing fails: nothing becomes a challenger on
evidence that was never gathered. The inputs are plain dicts (``evaluate()``'s
result and :func:`model_measures` per model), so the gates are pure and the
rules can be tested on hand-made numbers. The measuring helpers here are pure
numpy too; ``trainer.conditions`` feeds them embeddings.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

PASS, FAIL, SKIP = "pass", "fail", "skip"
TAR_KEY = "tar_at_far_1e-04"  # trainer.evaluate's name for TAR at FAR 1e-4
# Per condition, the rate that says "better": genuine conditions raise TAR, impostor ones cut FAR.
LOWER_IS_BETTER = {"lookalike": "far"}
GENDERS = ("female", "male")


class GateSettings(BaseModel):
    """Tolerances and bounds of the gates (a settings section: frozen, unknown keys refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accuracy_tolerance: float = Field(0.002, ge=0, description="(a) accuracy may drop this much.")
    tar_tolerance: float = Field(0.003, ge=0, description="(a) TAR@FAR 1e-4 may drop this much.")
    min_target_gain: float = Field(
        0.0, ge=0, description="(b) a targeted condition must improve by more than this.")
    gender_tar_gap_tolerance: float = Field(
        0.005, ge=0, description="(c) |TAR women - TAR men| may widen by this much.")
    gender_far_ratio_tolerance: float = Field(
        1.25, ge=1, description="(c) the women/men FAR ratio may grow by this factor.")
    failure_far_bounds: dict[str, float] = Field(
        default_factory=lambda: {"mask": 1e-3, "dim": 1e-3, "lookalike": 0.10},
        description="(d) highest FAR at the accept threshold per failure-mode condition. The "
        "bootstrap champion on held-out LFW: mask 9.6e-5, dim 4.8e-5, look-alikes 6.4e-2 (each "
        "image against its 3 nearest other people, 5,451 pairs).")


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, why, and the numbers it looked at."""

    gate: str
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateReport:
    """Every gate's result; the challenger may be registered only when :attr:`passed`."""

    results: tuple[GateResult, ...]
    measures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """No gate failed (skipped gates do not block)."""
        return all(r.status != FAIL for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        """The gates that failed."""
        return [r for r in self.results if r.status == FAIL]

    def explain(self) -> str:
        """One line per failed gate, or a line saying all passed."""
        if self.passed:
            return "all gates passed: " + "; ".join(f"{r.gate}: {r.status}" for r in self.results)
        return "\n".join(f"gate {r.gate} failed: {r.reason}" for r in self.failed)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"passed": self.passed, "gates": [r.__dict__ for r in self.results],
                "measures": self.measures}

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.as_record(), indent=2, default=_jsonable)

    def to_markdown(self) -> str:
        """A short human report: the gates, then champion vs challenger."""
        lines = [f"# Gate report: {'PASSED' if self.passed else 'FAILED'}", "",
                 "| gate | result | reason |", "| --- | --- | --- |"]
        lines += [f"| {r.gate} | {r.status.upper()} | {r.reason} |" for r in self.results]
        rows = comparison_rows(self.measures)
        if rows:
            lines += ["", "| measure | champion | challenger |", "| --- | --- | --- |"]
            lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """The markdown report as a minimal standalone HTML page."""
        out = ["<!doctype html><meta charset='utf-8'><title>Gate report</title>",
               "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
               "table{border-collapse:collapse;margin:1em 0}.fail{color:#b00}.pass{color:#070}"
               "</style>", f"<h1>Gate report: {'PASSED' if self.passed else 'FAILED'}</h1>",
               "<table><tr><th>gate</th><th>result</th><th>reason</th></tr>"]
        out += [f"<tr><td>{html.escape(r.gate)}</td><td class='{r.status}'>{r.status.upper()}"
                f"</td><td>{html.escape(r.reason)}</td></tr>" for r in self.results]
        out.append("</table><table><tr><th>measure</th><th>champion</th><th>challenger</th></tr>")
        out += [f"<tr><td>{html.escape(n)}</td><td>{a}</td><td>{b}</td></tr>"
                for n, a, b in comparison_rows(self.measures)]
        return "\n".join(out) + "</table>\n"


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-2 else f"{value:.4f}"
    return str(value)


def comparison_rows(measures: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, champion, challenger) rows for the reports."""
    champ, cand = measures.get("champion") or {}, measures.get("candidate") or {}
    rows = [(k, _fmt(champ.get(k)), _fmt(cand.get(k)))
            for k in ("accuracy", TAR_KEY, "accept_threshold") if k in champ or k in cand]
    for name in sorted(set(champ.get("conditions", {})) | set(cand.get("conditions", {}))):
        a, b = champ.get("conditions", {}).get(name, {}), cand.get("conditions", {}).get(name, {})
        rows += [(f"{name} {r.upper()}", _fmt(a.get(r)), _fmt(b.get(r))) for r in ("tar", "far")]
    for g in GENDERS:
        a, b = champ.get("gender", {}).get(g, {}), cand.get("gender", {}).get(g, {})
        rows += [(f"{g} {r.upper()}", _fmt(a.get(r)), _fmt(b.get(r))) for r in ("tar", "far")]
    return rows


# --- the gates ---------------------------------------------------------------------------


def gate_accuracy(champion: Mapping[str, Any], candidate: Mapping[str, Any],
                  settings: GateSettings) -> GateResult:
    """(a) accuracy and TAR@FAR 1e-4 within tolerance of the champion's."""
    problems, details = [], {}
    for key, tol in (("accuracy", settings.accuracy_tolerance), (TAR_KEY, settings.tar_tolerance)):
        a, b = champion.get(key), candidate.get(key)
        if a is None or b is None:
            return GateResult("accuracy", FAIL, f"{key} was not measured for both models")
        details[key] = {"champion": a, "candidate": b, "delta": b - a, "tolerance": tol}
        if b < a - tol:
            problems.append(f"{key} fell from {a:.4f} to {b:.4f} (tolerance {tol:.4f})")
    if problems:
        return GateResult("accuracy", FAIL, "; ".join(problems), details)
    return GateResult("accuracy", PASS, "accuracy {accuracy[delta]:+.4f}, TAR@1e-4 "
                      "{tar[delta]:+.4f} against the champion".format(
                          accuracy=details["accuracy"], tar=details[TAR_KEY]), details)


def gate_targets(champion: Mapping[str, Any], candidate: Mapping[str, Any],
                 targets: Sequence[str], settings: GateSettings) -> GateResult:
    """(b) every condition the challenger was trained for got better."""
    if not targets:
        return GateResult("targets", SKIP, "the challenger was trained for no particular "
                          "condition (no condition named in the feedback or the call)")
    problems, details = [], {}
    for name in targets:
        rate = LOWER_IS_BETTER.get(name, "tar")
        a = champion.get("conditions", {}).get(name, {}).get(rate)
        b = candidate.get("conditions", {}).get(name, {}).get(rate)
        if a is None or b is None:
            problems.append(f"{name} was not measured")
            continue
        gain = (a - b) if rate == "far" else (b - a)
        details[name] = {"rate": rate, "champion": a, "candidate": b, "gain": gain}
        if gain <= settings.min_target_gain:
            problems.append(f"{name} {rate.upper()} did not improve ({a:.4g} -> {b:.4g})")
    if problems:
        return GateResult("targets", FAIL, "; ".join(problems), details)
    return GateResult("targets", PASS, "improved: " + ", ".join(
        f"{n} {d['rate'].upper()} {d['champion']:.4g} -> {d['candidate']:.4g}"
        for n, d in details.items()), details)


def gender_gaps(gender: Mapping[str, Mapping[str, Any]]) -> dict[str, float] | None:
    """|TAR women - TAR men| and the FAR ratio (larger over smaller, floored at one impostor)."""
    f, m = gender.get("female"), gender.get("male")
    if not f or not m or any(s.get(k) is None for s in (f, m) for k in ("tar", "far")):
        return None
    floor = 1.0 / max(1, min(int(f.get("impostor", 1)), int(m.get("impostor", 1))))
    hi, lo = max(f["far"], m["far"]), min(f["far"], m["far"])
    return {"tar_gap": abs(f["tar"] - m["tar"]), "far_ratio": max(hi, floor) / max(lo, floor)}


def gate_gender(champion: Mapping[str, Any], candidate: Mapping[str, Any],
                settings: GateSettings) -> GateResult:
    """(c) the women/men gap in TAR and FAR does not widen beyond tolerance."""
    a, b = gender_gaps(champion.get("gender", {})), gender_gaps(candidate.get("gender", {}))
    if a is None or b is None:
        return GateResult("gender_gap", FAIL, "gender slices were not measured for both models "
                          "(LFW gender labels missing?)")
    details = {"champion": a, "candidate": b}
    problems = []
    if b["tar_gap"] > a["tar_gap"] + settings.gender_tar_gap_tolerance:
        problems.append(f"TAR gap widened from {a['tar_gap']:.4f} to {b['tar_gap']:.4f}")
    if b["far_ratio"] > a["far_ratio"] * settings.gender_far_ratio_tolerance:
        problems.append(f"FAR ratio widened from {a['far_ratio']:.2f}x to {b['far_ratio']:.2f}x")
    if problems:
        return GateResult("gender_gap", FAIL, "; ".join(problems), details)
    return GateResult("gender_gap", PASS, f"TAR gap {a['tar_gap']:.4f} -> {b['tar_gap']:.4f}, "
                      f"FAR ratio {a['far_ratio']:.2f}x -> {b['far_ratio']:.2f}x", details)


def gate_failure_modes(candidate: Mapping[str, Any], settings: GateSettings) -> GateResult:
    """(d) FAR at the accept threshold under each failure-mode condition stays in bounds."""
    problems, details = [], {}
    for name, bound in settings.failure_far_bounds.items():
        far = candidate.get("conditions", {}).get(name, {}).get("far")
        if far is None:
            problems.append(f"{name} FAR was not measured")
            continue
        details[name] = {"far": far, "bound": bound}
        if far > bound:
            problems.append(f"{name} FAR {far:.2e} is above the bound {bound:.2e}")
    if problems:
        return GateResult("failure_modes", FAIL, "; ".join(problems), details)
    return GateResult("failure_modes", PASS, ", ".join(
        f"{n} FAR {d['far']:.2e} <= {d['bound']:.0e}" for n, d in details.items()), details)


def run_gates(champion: Mapping[str, Any], candidate: Mapping[str, Any], *,
              targets: Sequence[str] = (), settings: GateSettings | None = None) -> GateReport:
    """All four gates on two models' measures (see :func:`model_measures`)."""
    settings = settings or GateSettings()
    results = (gate_accuracy(champion, candidate, settings),
               gate_targets(champion, candidate, targets, settings),
               gate_gender(champion, candidate, settings),
               gate_failure_modes(candidate, settings))
    return GateReport(results, {"champion": dict(champion), "candidate": dict(candidate),
                                "targets": list(targets), "settings": settings.model_dump()})


# --- measuring (pure numpy) -----------------------------------------------------------------


def model_measures(evaluation: Mapping[str, Any], conditions: Mapping[str, Any],
                   gender: Mapping[str, Any], accept_threshold: float) -> dict[str, Any]:
    """One model's gate inputs: ``evaluate()``'s metrics plus condition and gender rates."""
    return {**{k: v for k, v in evaluation.items() if isinstance(v, int | float | str)},
            "accept_threshold": float(accept_threshold), "conditions": dict(conditions),
            "gender": dict(gender)}


def _rates(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> dict[str, Any]:
    return {"tar": float(np.mean(genuine >= threshold)) if genuine.size else None,
            "far": float(np.mean(impostor >= threshold)) if impostor.size else None,
            "genuine": int(genuine.size), "impostor": int(impostor.size)}


def cross_rates(gallery: np.ndarray, probes: np.ndarray, people: np.ndarray,
                threshold: float) -> dict[str, Any]:
    """TAR and FAR of every (clean gallery image, altered probe of another image) pair."""
    sims = gallery @ probes.T
    same = people[:, None] == people[None, :]
    other_image = ~np.eye(len(people), dtype=bool)
    return _rates(sims[same & other_image], sims[~same], threshold)


def gender_rates(emb: np.ndarray, people: np.ndarray, genders: np.ndarray,
                 threshold: float) -> dict[str, dict[str, Any]]:
    """TAR and FAR at ``threshold`` over all pairs where both images are of one gender."""
    iu = np.triu_indices(len(emb), k=1)
    sims = np.einsum("ij,ij->i", emb[iu[0]], emb[iu[1]])
    same = people[iu[0]] == people[iu[1]]
    out = {}
    for g in GENDERS:
        both = (genders[iu[0]] == g) & (genders[iu[1]] == g)
        out[g] = _rates(sims[both & same], sims[both & ~same], threshold)
    return out


def lookalike_pairs(emb: np.ndarray, people: np.ndarray, k: int = 3) -> np.ndarray:
    """(i, j) index pairs: each image with its ``k`` most similar images of other people."""
    sims = emb @ emb.T
    sims[people[:, None] == people[None, :]] = -np.inf
    k = min(k, len(emb) - 1)
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((len(emb), 0))
    rows = np.repeat(np.arange(len(emb)), nearest.shape[1])
    pairs = np.stack([rows, nearest.ravel()], axis=1).astype(np.int64)
    return pairs[np.isfinite(sims[pairs[:, 0], pairs[:, 1]])]


def pair_rates(emb: np.ndarray, pairs: np.ndarray, threshold: float) -> dict[str, Any]:
    """FAR of fixed impostor pairs (the look-alikes) at ``threshold``."""
    sims = np.einsum("ij,ij->i", emb[pairs[:, 0]], emb[pairs[:, 1]])
    return _rates(np.zeros(0), sims, threshold)
