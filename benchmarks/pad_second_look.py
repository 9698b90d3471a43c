"""The second look, measured: what a gate that asks a too-still student to turn changes.

A presentation refused only because its clean burst showed no head's 3D motion (REVIEW
``LIVENESS_UNCERTAIN`` with nothing fired, for a reason in
:data:`~examgate.core.policy.SECOND_LOOK_WHY`) is presented again, as a gate would after
showing :data:`~examgate.core.policy.SECOND_LOOK_PROMPT`: a live student turning the
head as asked, an attacker presenting the same instrument again, a fresh draw, moved
twice as much (:mod:`examgate.augment.prompted`).

The transaction's verdict is the second look's (ISO/IEC 30107-3 also reports errors per
transaction). One second look only, as the policy asks of gates. Synthetic, like the rest
of the benchmark: it shows what the protocol changes, not what real students do.
"""

from __future__ import annotations

from typing import Any

from benchmarks.pad_metrics import apcer, bpcer, verdict_counts
from examgate.augment.prompted import BONA_FIDE, PROMPTED_LIVE
from examgate.core.policy import SECOND_LOOK_PROMPT, SECOND_LOOK_WHY, turning_settles
from examgate.vision.liveness import LivenessEvidence


def wants_second_look(evidence: LivenessEvidence, pass_threshold: float,
                      attack_threshold: float) -> bool:
    """Whether the gate would ask for a second look: an uncertain verdict that a head turn
    could settle (the rule of ``policy.second_look``)."""
    return (attack_threshold <= evidence.score < pass_threshold
            and turning_settles(evidence.fired, evidence.why))


def second_look_report(final: dict[str, list[float]], taken: dict[str, int],
                       pass_threshold: float, attack_threshold: float) -> dict[str, Any]:
    """Per-transaction APCER and BPCER, with how many second looks were taken."""
    live = final.get(BONA_FIDE, [])
    attacks = {n: s for n, s in final.items() if n != BONA_FIDE}
    return {
        "rule": "REVIEW LIVENESS_UNCERTAIN with nothing fired, because: "
                + ", ".join(sorted(SECOND_LOOK_WHY)),
        "prompt": SECOND_LOOK_PROMPT,
        "prompted_bona_fide": PROMPTED_LIVE,
        "prompted_attacks": "the same instrument again, movement parameters doubled",
        "taken": {n: taken.get(n, 0) for n in final},
        "apcer": apcer(attacks, pass_threshold),
        "bpcer": bpcer(live, pass_threshold),
        "verdicts": {n: verdict_counts(s, pass_threshold, attack_threshold)
                     for n, s in final.items()},
    }
