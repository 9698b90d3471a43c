"""What the admin page shows of the enrolled students of each model version deciding: the
look-alike pairs (as ``examgate enroll --report`` lists them) and the threshold check
among them (:func:`examgate.core.cohort.pair_rate`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from examgate.core import lookalikes
from examgate.core.cohort import Cohort, pair_rate
from examgate.core.ports import TemplateStore, TemplateStoreError

log = logging.getLogger("examgate.console.enrolled")

MAX_LOOKALIKES_SHOWN = 200  # per model version; `examgate enroll --report` lists them all


def enrolled_panels(store: TemplateStore | None, decisions: Iterable[dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], str | None]:
    """One panel per model version among ``decisions`` (newest first): its look-alike pairs
    (the most similar :data:`MAX_LOOKALIKES_SHOWN`) and the threshold check at the accept
    threshold its newest decision used; or why there is nothing to show."""
    if store is None:
        return [], "This console is not connected to the template store."
    thresholds: dict[str, dict[str, Any]] = {}
    for d in decisions:
        # The threshold a face was judged at (raised among the enrolled): a decision that
        # failed closed before any match records the version's own.
        if d.get("model_version") and d.get("similarity") is not None:
            thresholds.setdefault(str(d["model_version"]), d.get("thresholds") or {})
    if not thresholds:
        return [], "No decisions yet: the model versions deciding show here."
    panels = []
    for version, used in sorted(thresholds.items()):
        try:
            templates = list(store.get_many(store.students(version), version).values())
        except TemplateStoreError as exc:
            log.warning("admin: templates of version %s not read: %s", version, exc)
            return [], f"The template store could not be read: {exc}"
        found = lookalikes.pairs_among(templates)
        check = (pair_rate(Cohort.of(version, templates), used["accept"],
                           used.get("accept_far", 1e-4)) if "accept" in used else None)
        panels.append({"version": version, "pairs": found[:MAX_LOOKALIKES_SHOWN],
                       "more": max(0, len(found) - MAX_LOOKALIKES_SHOWN), "check": check})
    return panels, None
