"""Look-alikes: enrolled students whose templates one model version can barely tell apart.

The realistic impostor is a sibling, a friend or a look-alike, not a random stranger.
When a student is enrolled, their template is compared with every other template of
the same model version; the students it resembles (template similarity at or above
the version's reject threshold, the FAR-1e-3 point) are kept on both templates. A
check-in claimed as either is then also compared with the other: an ACCEPT whose probe
fits a look-alike too (at or above the reject threshold) and not clearly less well
(within ``margin`` of the claimed student's similarity) becomes REVIEW ``LOOKALIKE``,
and a proctor checks the ID card.

Measured on the 3,617 LFW identities outside the calibration split, one template each
and 2,931 other photos as probes (every probe claimed as everyone): 87% of templates
have a look-alike at the reject threshold. Without the margin the guard sent 39.6% of
genuine ACCEPTs to a proctor; with a margin of 0.05, 0.24% (7 of 2,875), and it still
stopped 116 of the 218 false accepts between enrolled people (53%): a look-alike's
face fits their own template better than the one they claim. The verify processor and
``examgate evaluate`` also hold an ACCEPT against every other template of the version
(:mod:`examgate.core.cohort`), which stops most of the rest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping

import numpy as np

from examgate.core import policy
from examgate.core.policy import Thresholds, Verdict
from examgate.core.ports import Template, TemplateStore

log = logging.getLogger("examgate.lookalikes")
MAX_LOOKALIKES = 8  # the most similar kept per template: a check-in fetches this many more
MARGIN = 0.05  # see the module's note


def find_lookalikes(template: Template, others: Iterable[Template], at: float,
                    limit: int = MAX_LOOKALIKES) -> tuple[tuple[str, float], ...]:
    """Students of ``others`` (same model version, not this student) whose template
    similarity to ``template`` is at least ``at``, most similar first."""
    found = [(o.student_id, float(o.embedding @ template.embedding)) for o in others
             if o.student_id != template.student_id
             and o.model_version == template.model_version]
    close = sorted(((s, v) for s, v in found if v >= at), key=lambda x: -x[1])
    return tuple(close[:limit])


def _merge(pairs: Iterable[tuple[str, float]], limit: int = MAX_LOOKALIKES
           ) -> tuple[tuple[str, float], ...]:
    best: dict[str, float] = {}
    for student, sim in pairs:
        best[student] = max(sim, best.get(student, -1.0))
    return tuple(sorted(best.items(), key=lambda x: -x[1])[:limit])


def link(store: TemplateStore, template: Template, at: float) -> Template:
    """``template`` with its look-alikes among the stored templates of its version; each
    look-alike's stored template gains this student too (stored again). Returns the new
    template, not yet stored."""
    version = template.model_version
    others = store.get_many((s for s in store.students(version) if s != template.student_id),
                            version)
    found = find_lookalikes(template, others.values(), at)
    for student, sim in found:
        rival = others[student]
        kept = [(s, v) for s, v in rival.lookalikes if s != template.student_id]
        store.put(dataclasses.replace(rival, lookalikes=_merge([*kept,
                                                                (template.student_id, sim)])))
    if found:
        log.info("enroll: %s resembles %s (model version %s): their check-ins are compared "
                 "with each other", template.student_id,
                 ", ".join(f"{s} ({v:.3f})" for s, v in found), template.model_version)
    return dataclasses.replace(template, lookalikes=found)


def pairs_among(templates: Iterable[Template]) -> list[tuple[str, str, float]]:
    """The linked look-alike pairs of ``templates``, each once (``a < b``), most similar
    first: what the registrar's report and the console's admin page list."""
    found: dict[tuple[str, str], float] = {}
    for template in templates:
        for other, sim in template.lookalikes:
            key = (min(template.student_id, other), max(template.student_id, other))
            found[key] = max(sim, found.get(key, -1.0))
    return sorted(((a, b, s) for (a, b), s in found.items()), key=lambda x: (-x[2], x[0], x[1]))


def guard(verdict: Verdict, probe: np.ndarray | None, similarity: float | None,
          rivals: Mapping[str, Template], thresholds: Thresholds,
          margin: float = MARGIN, cohort_best: tuple[str, float] | None = None) -> Verdict:
    """An ACCEPT (at ``similarity`` to the claimed template) stays ACCEPT unless the probe
    also fits another enrolled student, a look-alike of the claimed one (``rivals``) or
    the best of the rest of the cohort (``cohort_best``, see :mod:`examgate.core.cohort`):
    at or above the reject threshold and within ``margin`` of ``similarity``. Then REVIEW."""
    if verdict.outcome != policy.ACCEPT or probe is None or similarity is None:
        return verdict
    scores = {s: float(t.embedding @ probe) for s, t in rivals.items()}
    if cohort_best is not None:
        scores[cohort_best[0]] = max(cohort_best[1], scores.get(cohort_best[0], -1.0))
    if not scores:
        return verdict
    student, best = max(scores.items(), key=lambda x: x[1])
    if best < thresholds.reject or best < similarity - margin:
        return verdict
    known = ("a known look-alike" if student in rivals
             else "though their enrollment photos did not look alike")
    return Verdict(policy.REVIEW, "LOOKALIKE",
                   f"{verdict.detail}, but the face fits enrolled student {student} almost as "
                   f"well ({best:.3f}), {known}: check the ID card")
