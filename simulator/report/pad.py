"""Presentation-attack detection, measured as ISO/IEC 30107-3 does, from result rows.

- APCER of an attack type (the ``attack`` of its rows: the burst instrument, or
  ``replay``): the share of its presentations that the liveness check classed as
  bona fide (verdict LIVE), whatever the final outcome; ``apcer_max`` is the worst type.
- BPCER: the share of clean genuine check-ins (condition exactly ``genuine``) whose
  liveness verdict was not LIVE; ``bpcer_review`` and ``bpcer_reject`` are what it
  cost them: a REVIEW for LIVENESS_UNCERTAIN, a REJECT for PRESENTATION_ATTACK.

Rates count decided check-ins with a liveness record; old decisions and model
versions without liveness have none and are counted as ``unjudged``. Per attack
type, ``outcomes`` shows what the attack got: an ACCEPT is a false accept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from examgate.augment import ATTACK_FAMILY
from simulator.report.rows import ResultRow
from simulator.report.stats import rate

CLEAN_GENUINE = "genuine"
VERDICTS = ("LIVE", "UNCERTAIN", "ATTACK", "NOT_CHECKED")
# Attack types that are not burst instruments: a digital replay, a single-frame print.
_FAMILY = {"replay": "digital", "printed_photo": "print"}


def family_of(attack: str) -> str:
    """The ISO/IEC 30107-3 attack family of an attack type (``print``, ``screen``, ...)."""
    return ATTACK_FAMILY.get(attack) or _FAMILY.get(attack, "other")


def _verdicts(rows: Sequence[ResultRow]) -> dict[str, int]:
    counts = Counter(r.liveness_verdict for r in rows)
    return {v: counts[v] for v in VERDICTS}


def pad_stats(rows: Sequence[ResultRow]) -> dict[str, Any]:
    """APCER per attack type, BPCER on clean genuine check-ins, and what each attack got."""
    decided = [r for r in rows if r.outcome is not None]
    by_attack: dict[str, list[ResultRow]] = defaultdict(list)
    for r in decided:
        if r.attack:
            by_attack[r.attack].append(r)
    apcer, attempts, outcomes, verdicts = {}, {}, {}, {}
    unjudged = 0
    for name in sorted(by_attack):
        tries = by_attack[name]
        judged = [r for r in tries if r.liveness_verdict is not None]
        unjudged += len(tries) - len(judged)
        got = Counter(r.outcome for r in tries)
        attempts[name] = len(tries)
        apcer[name] = rate(sum(r.liveness_verdict == "LIVE" for r in judged), len(judged))
        outcomes[name] = {"accept": got["ACCEPT"], "review": got["REVIEW"],
                          "reject": got["REJECT"], "accepted": rate(got["ACCEPT"], len(tries))}
        verdicts[name] = _verdicts(judged)
    rated = [(n, r) for n, r in apcer.items() if r["rate"] is not None]
    worst = max(rated, key=lambda item: item[1]["rate"], default=None)
    clean = [r for r in decided if r.is_genuine and r.condition == CLEAN_GENUINE]
    bona = [r for r in clean if r.liveness_verdict is not None]
    return {
        "apcer": apcer,
        "apcer_max": {"attack": worst[0], **worst[1]} if worst else None,
        "attempts": attempts,
        "family": {n: family_of(n) for n in attempts},
        "outcomes": outcomes,
        "verdicts": verdicts,
        "bpcer": rate(sum(r.liveness_verdict != "LIVE" for r in bona), len(bona)),
        "bpcer_review": rate(sum(r.outcome == "REVIEW" and r.reason == "LIVENESS_UNCERTAIN"
                                 for r in bona), len(bona)),
        "bpcer_reject": rate(sum(r.outcome == "REJECT" and r.reason == "PRESENTATION_ATTACK"
                                 for r in bona), len(bona)),
        "bona_fide_verdicts": _verdicts(bona),
        "unjudged": unjudged + len(clean) - len(bona),
    }
