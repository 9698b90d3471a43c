"""The second look, measured: what a gate that asks a too-still student to turn changes.

A presentation refused only because its clean burst showed no head's 3D motion (REVIEW
``LIVENESS_UNCERTAIN`` with nothing fired, for a reason in
:data:`~examgate.core.policy.SECOND_LOOK_WHY`) is presented again, as a gate would after
showing :data:`~examgate.core.policy.SECOND_LOOK_PROMPT`:

* a live student turns the head as asked: the bona fide instrument with
  :data:`PROMPTED_LIVE` (a turn of about 6 degrees in the half second; 2 % do not comply
  and stay still);
* an attacker presents the same instrument again, a fresh draw, and, having heard the
  prompt, moves it twice as much (each movement parameter doubled within its bounds): a
  print turned like a head, a phone tilted, a video of the student turning.

The transaction's verdict is the second look's (ISO/IEC 30107-3 also reports errors per
transaction). One second look only, as the policy asks of gates. Synthetic, like the rest
of the benchmark: it shows what the protocol changes, not what real students do.
"""

from __future__ import annotations

from typing import Any

from benchmarks.pad_metrics import apcer, bpcer, verdict_counts
from examgate.augment.bursts_base import get_burst
from examgate.core.policy import SECOND_LOOK_PROMPT, SECOND_LOOK_WHY, turning_settles
from examgate.vision.liveness import LivenessEvidence

BONA_FIDE = "bona_fide"
PROMPTED_LIVE: dict[str, Any] = {"still": 0.02, "yaw_deg": 6.0, "pitch_deg": 3.0}
MOVEMENT = ("motion", "head_motion")  # attackers' movement parameters, doubled when prompted


def wants_second_look(evidence: LivenessEvidence, pass_threshold: float,
                      attack_threshold: float) -> bool:
    """Whether the gate would ask for a second look: an uncertain verdict that a head turn
    could settle (the rule of ``policy.second_look``)."""
    return (attack_threshold <= evidence.score < pass_threshold
            and turning_settles(evidence.fired, evidence.why))


def prompted_params(instrument: str, attack_movement: float = 1.0) -> dict[str, Any]:
    """The instrument's parameters for a presentation made after the prompt (an attacker
    moves twice as much as on the first look, which moved ``attack_movement`` x)."""
    if instrument == BONA_FIDE:
        return dict(PROMPTED_LIVE)
    return moved(instrument, 2.0 * attack_movement)


def moved(instrument: str, factor: float) -> dict[str, Any]:
    """The instrument's movement parameters (:data:`MOVEMENT`) at ``factor`` times their
    defaults, within their bounds; {} for an instrument with none (a print on a stand)."""
    out: dict[str, Any] = {}
    for name, info in get_burst(instrument).params_model.model_fields.items():
        if name in MOVEMENT and isinstance(info.default, int | float):
            bound = min((m.le for m in info.metadata if getattr(m, "le", None) is not None),
                        default=float("inf"))
            out[name] = min(factor * float(info.default), float(bound))
    return out


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
