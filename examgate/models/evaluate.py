"""Offline evaluation on anyone's photos: what the gate would decide, claim by claim.

A photo set is a folder with one sub-folder per person. One image per person is
enrolled through the enrollment path (:func:`examgate.core.enrollment.build_template`);
every other image is a probe, claimed once as its own person (genuine) and as each
other enrolled person (impostor). Every claim goes through
:func:`examgate.core.matching.judge`, the function the verify processor decides with
(quality gates, replay check, liveness verdict, the version's thresholds), so the
rates here are the gate's, not a model's.

Photos carry no burst. By default a claim is judged as if liveness had passed (``bench
pad`` measures liveness); ``liveness="single-frame"`` applies the version's
single-frame detector as at a gate configured as single-frame.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from examgate.core import lookalikes
from examgate.core.cohort import Cohort, thresholds_among
from examgate.core.enrollment import EnrollmentError, build_template
from examgate.core.intervals import wilson_interval
from examgate.core.lookalikes import find_lookalikes
from examgate.core.matching import Analysis, judge
from examgate.core.policy import ACCEPT, REJECT, REVIEW, LivenessCheck, Thresholds
from examgate.core.ports import Template
from examgate.core.verify import FaceAnalyzer
from examgate.models.calibration import operating_point, roc_curve

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FAR_TARGETS = {"1e-3": 1e-3, "1e-4": 1e-4, "1e-5": 1e-5}
LIVENESS_MODES = ("assume-live", "single-frame")


class PhotoSetError(ValueError):
    """The folder, enrollment list or labels file cannot be used as given."""


@dataclass(frozen=True)
class PhotoSet:
    """People, their images (sorted) and which one each person enrolls with."""

    images: dict[str, list[Path]]
    enrollment: dict[str, Path]

    def probes(self) -> list[tuple[str, Path]]:
        """Every image that is not an enrollment image, with its person."""
        return [(person, path) for person, paths in sorted(self.images.items())
                for path in paths if path != self.enrollment.get(person)]


def read_photo_set(root: Path, enrollment_csv: Path | None = None) -> PhotoSet:
    """``root/<person>/<image>``; each person enrolls with their first image (sorted by
    name) unless ``enrollment_csv`` (columns ``person,image``) says otherwise."""
    if not root.is_dir():
        raise PhotoSetError(f"{root} is not a folder (expected one sub-folder per person)")
    images = {d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
              for d in sorted(root.iterdir()) if d.is_dir()}
    images = {person: paths for person, paths in images.items() if paths}
    if len(images) < 2:
        raise PhotoSetError(f"{root} has {len(images)} person folder(s) with images: an "
                            f"evaluation needs at least two people")
    enrollment = {person: paths[0] for person, paths in images.items()}
    if enrollment_csv is not None:
        for row in _rows(enrollment_csv, ("person", "image")):
            path = root / row["person"] / row["image"]
            if row["person"] not in images or path not in images[row["person"]]:
                raise PhotoSetError(f"{enrollment_csv}: {row['person']}/{row['image']} is not "
                                    f"an image in {root}")
            enrollment[row["person"]] = path
    return PhotoSet(images, enrollment)


def read_labels(path: Path) -> dict[str, dict[str, str]]:
    """``person -> {attribute: value}`` from a CSV with a ``person`` column and one column
    per attribute (gender, age band...); empty cells are left out."""
    return {row["person"]: {k: v for k, v in row.items() if k != "person" and v}
            for row in _rows(path, ("person",))}


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise PhotoSetError(f"{path}: missing column(s) {', '.join(missing)}")
            return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except OSError as exc:
        raise PhotoSetError(f"cannot read {path}: {exc}") from exc


@dataclass
class Claims:
    """Every judged claim: who the probe is, whom it claimed, what the gate said."""

    probe: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    outcome: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    # The outcome had the probe's person not been enrolled (a stand-in from outside): the
    # cohort check could not have compared the face with their own template.
    outsider: list[str] = field(default_factory=list)

    def add(self, probe: str, claimed: str, outcome: str, reason: str,
            outsider: str | None = None) -> None:
        self.probe.append(probe)
        self.claimed.append(claimed)
        self.outcome.append(outcome)
        self.reason.append(reason)
        self.outsider.append(outcome if outsider is None else outsider)

    def rates(self, genuine: bool, keep: Callable[[str, str], bool] | None = None,
              outsiders: bool = False) -> dict[str, Any]:
        """Outcome rates of the genuine (or impostor) claims that ``keep`` selects (with
        ``outsiders``, as if no impostor had been enrolled)."""
        outcomes = self.outsider if outsiders else self.outcome
        picked = [(o, r) for p, c, o, r in zip(self.probe, self.claimed, outcomes,
                                               self.reason, strict=True)
                  if (p == c) == genuine and (keep is None or keep(p, c))]
        n = len(picked)
        counts = Counter(o for o, _ in picked)
        out: dict[str, Any] = {"claims": n}
        for name, outcome in (("accept", ACCEPT), ("review", REVIEW), ("reject", REJECT)):
            k = counts.get(outcome, 0)
            out[f"{name}_rate"] = k / n if n else None
            # Claims sharing a photo are not independent: read it as the least uncertainty.
            out[f"{name}_ci95"] = list(wilson_interval(k, n)) if n else None
        out["review_reasons"] = dict(Counter(r for o, r in picked if o == REVIEW))
        out["reject_reasons"] = dict(Counter(r for o, r in picked if o == REJECT))
        return out


ASSUMED_LIVE_SCORE = 1.0


def liveness_for(analyzer: FaceAnalyzer, analysis: Analysis, mode: str) -> LivenessCheck | None:
    """The liveness verdict a claim is judged with (see the module's note)."""
    model = analyzer.liveness_model
    if mode not in LIVENESS_MODES:
        raise ValueError(f"liveness mode must be one of {', '.join(LIVENESS_MODES)}")
    if model is None:
        return None  # a version without liveness models: REVIEW, as at the gate
    if mode == "assume-live":
        return LivenessCheck(ASSUMED_LIVE_SCORE, model.pass_threshold, model.attack_threshold,
                             single_frame=False, single_frame_ok=False)
    reading = analysis.liveness
    return LivenessCheck(None if reading is None else reading.score, model.pass_threshold,
                         model.attack_threshold, single_frame=True, single_frame_ok=True,
                         fired=() if reading is None else reading.fired)


@dataclass
class Evaluation:
    """Everything measured, before it is summarised."""

    templates: dict[str, Template]
    enrollment_failures: dict[str, str]
    probes: list[tuple[str, Path, Analysis]]
    claims: Claims
    scores: tuple[np.ndarray, np.ndarray]  # genuine and impostor similarities, all pairs
    rank1: tuple[int, int]  # probes identified correctly, probes with an enrolled identity
    thresholds: Thresholds  # as served among the enrolled (cohort.thresholds_among)


def run_evaluation(analyzer: FaceAnalyzer, photos: PhotoSet, *, liveness: str = "assume-live",
                   max_impostor_claims: int | None = None, seed: int = 0,
                   lookalike_margin: float = lookalikes.MARGIN, cohort_check: bool = True,
                   cohort_threshold: bool = True,
                   progress: Callable[[str, int, int], None] | None = None) -> Evaluation:
    """Enroll, analyse every probe once, and judge every claim (impostor claims sampled
    down to ``max_impostor_claims`` when given; score-level rates always use all pairs)."""
    tick = progress or (lambda stage, done, total: None)
    templates: dict[str, Template] = {}
    failures: dict[str, str] = {}
    people = sorted(photos.enrollment)
    for i, person in enumerate(people):
        try:
            templates[person] = build_template(analyzer, person,
                                               [photos.enrollment[person].read_bytes()])
        except EnrollmentError as exc:
            failures[person] = f"{exc.reason}: {exc.detail}"
        except OSError as exc:
            failures[person] = f"UNREADABLE: {exc}"
        tick("enrolling", i + 1, len(people))
    # Look-alikes among the enrolled, as the enroll processor links them (lookalikes.link).
    at = analyzer.thresholds.reject
    templates = {p: dataclasses.replace(t, lookalikes=find_lookalikes(t, templates.values(), at))
                 for p, t in templates.items()}
    probes = []
    todo = photos.probes()
    for i, (person, path) in enumerate(todo):
        try:
            analysis = analyzer.analyse(path.read_bytes())
        except OSError as exc:  # judged like an undecodable frame: REVIEW, never ACCEPT
            analysis = Analysis(0, {}, (), None, None, error=f"unreadable file: {exc}")
        probes.append((person, path, analysis))
        tick("analysing probes", i + 1, len(todo))
    enrolled = sorted(templates)
    impostor_pairs = [(i, c) for i, (p, _, _) in enumerate(probes) for c in enrolled if c != p]
    if max_impostor_claims is not None and len(impostor_pairs) > max_impostor_claims:
        impostor_pairs = random.Random(seed).sample(impostor_pairs, max_impostor_claims)
    pairs = [(i, p) for i, (p, _, _) in enumerate(probes) if p in templates] + impostor_pairs
    pairs.sort()
    # What does not depend on the claim, once: each probe's liveness, each template's rivals.
    checks = [liveness_for(analyzer, analysis, liveness) for _, _, analysis in probes]
    rivals = {p: {s: templates[s] for s, _ in t.lookalikes} for p, t in templates.items()}
    cohort = (Cohort.of(analyzer.model_version, templates.values())
              if cohort_check or cohort_threshold else None)
    served = thresholds_among(analyzer.thresholds, cohort if cohort_threshold else None)
    cohort = cohort if cohort_check else None
    claims = Claims()
    for k, (i, claimed) in enumerate(pairs):
        person, _, analysis = probes[i]
        verdict, _ = judge(analysis, templates[claimed], served, checks[i],
                           rivals[claimed], lookalike_margin, cohort)
        outsider = None
        if person != claimed and verdict.reason == "LOOKALIKE" and person in templates:
            # Stopped because the impostor's own template fits: what if they were not enrolled?
            outsider = judge(analysis, templates[claimed], served, checks[i],
                             {s: t for s, t in rivals[claimed].items() if s != person},
                             lookalike_margin, cohort and cohort.without(person))[0].outcome
        claims.add(person, claimed, verdict.outcome, verdict.reason, outsider)
        if k % 1000 == 0 or k == len(pairs) - 1:
            tick("judging claims", k + 1, len(pairs))
    return Evaluation(templates, failures, probes, claims, *_all_pair_scores(probes, templates),
                      served)


def _all_pair_scores(probes: list[tuple[str, Path, Analysis]], templates: dict[str, Template]
                     ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[int, int]]:
    enrolled = sorted(templates)
    usable = [(p, a.embedding) for p, _, a in probes if a.embedding is not None]
    if not enrolled or not usable:
        return (np.zeros(0), np.zeros(0)), (0, 0)
    gallery = np.stack([templates[c].embedding for c in enrolled])
    probe_emb = np.stack([e for _, e in usable])
    sims = probe_emb @ gallery.T
    own = np.array([[p == c for c in enrolled] for p, _ in usable])
    has_own = own.any(axis=1)
    best = np.argmax(sims, axis=1)
    correct = int(np.sum(own[np.arange(len(usable)), best] & has_own))
    return (sims[own], sims[~own]), (correct, int(has_own.sum()))


def summarise(ev: Evaluation, analyzer: FaceAnalyzer, labels: dict[str, dict[str, str]],
              *, liveness: str) -> dict[str, Any]:
    """The JSON report: served-policy rates, TAR at FAR, rank-1, slices, DET points."""
    genuine, impostor = ev.claims.rates(True), ev.claims.rates(False)
    outsiders = ev.claims.rates(False, outsiders=True)
    t = ev.thresholds
    out: dict[str, Any] = {
        "model_version": analyzer.model_version,
        # Served among these people: accept raised from the version's (calibrated_accept; or
        # checkin.accept_at_least where set higher) where they are more alike than its
        # calibration people.
        "thresholds": {"accept": t.accept, "reject": t.reject, "replay": t.replay,
                       "calibrated_accept": analyzer.thresholds.accept},
        "liveness": liveness,
        "people": len(ev.templates) + len(ev.enrollment_failures),
        "lookalike_pairs": sorted({tuple(sorted((p, s))) + (round(v, 4),)
                                   for p, t in ev.templates.items() for s, v in t.lookalikes}),
        "enrolled": len(ev.templates), "enrollment_failures": ev.enrollment_failures,
        "probes": len(ev.probes),
        "probe_problems": dict(Counter(
            "unreadable" if a.error else "no face" if a.face_count == 0 else
            "several faces" if a.face_count > 1 else "low quality"
            for _, _, a in ev.probes if a.error or a.face_count != 1 or a.quality_failures)),
        "far_at_accept": impostor["accept_rate"], "far_at_accept_ci95": impostor["accept_ci95"],
        "frr": genuine["reject_rate"], "frr_ci95": genuine["reject_ci95"],
        "review_rate": genuine["review_rate"], "genuine_accept_rate": genuine["accept_rate"],
        "impostor_review_rate": impostor["review_rate"],
        # The same impostor claims as if the impostors were not enrolled (stand-ins from
        # outside): the check against the enrolled cohort cannot see their own templates.
        "far_at_accept_not_enrolled": outsiders["accept_rate"],
        "far_at_accept_not_enrolled_ci95": outsiders["accept_ci95"],
        "genuine": genuine, "impostor": impostor,
    }
    gen_s, imp_s = ev.scores
    out["pairs"] = {"genuine": int(gen_s.size), "impostor": int(imp_s.size)}
    out["tar_at_far"], out["threshold_at_far"], out["far_resolvable"] = {}, {}, {}
    if gen_s.size and imp_s.size:
        for key, far in FAR_TARGETS.items():
            point = operating_point(gen_s, imp_s, far)
            out["tar_at_far"][key] = point.tar
            out["threshold_at_far"][key] = point.threshold
            out["far_resolvable"][key] = point.resolvable
        far_c, tar_c, _ = roc_curve(gen_s, imp_s, max_points=400)
        out["det"] = {"far": far_c.tolist(), "frr": (1 - tar_c).tolist()}
    correct, total = ev.rank1
    out["rank1"] = correct / total if total else None
    out["rank1_probes"] = total
    out["slices"] = slices(ev.claims, labels)
    return out


def slices(claims: Claims, labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Per attribute value: genuine claims of its people, and impostor claims where the
    probe and the claimed student both have it (look-alikes are mostly within a group)."""
    out: dict[str, Any] = {}
    attributes = sorted({a for attrs in labels.values() for a in attrs})
    for attr in attributes:
        out[attr] = {}
        for value in sorted({attrs[attr] for attrs in labels.values() if attr in attrs}):
            group = frozenset(p for p, attrs in labels.items() if attrs.get(attr) == value)
            gen = claims.rates(True, partial(_probe_in, group))
            imp = claims.rates(False, partial(_both_in, group))
            outside = claims.rates(False, partial(_both_in, group), outsiders=True)
            out[attr][value] = {
                "people": len(group),
                "far_at_accept": imp["accept_rate"], "far_at_accept_ci95": imp["accept_ci95"],
                "far_at_accept_not_enrolled": outside["accept_rate"],
                "far_at_accept_not_enrolled_ci95": outside["accept_ci95"],
                "impostor_claims": imp["claims"],
                "frr": gen["reject_rate"], "frr_ci95": gen["reject_ci95"],
                "review_rate": gen["review_rate"], "genuine_claims": gen["claims"]}
    return out


def _probe_in(group: frozenset[str], probe: str, claimed: str) -> bool:
    return probe in group


def _both_in(group: frozenset[str], probe: str, claimed: str) -> bool:
    return probe in group and claimed in group
