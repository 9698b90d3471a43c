"""A presentation made again after the gate's prompt to turn (the second look).

When a gate shows :data:`~examgate.core.policy.SECOND_LOOK_PROMPT` and sends a new
burst, what stands in front of the camera has heard the prompt too:

* a live student turns the head as asked: the bona fide instrument with
  :data:`PROMPTED_LIVE` (a turn of about 6 degrees in the half second; 2 % do not comply
  and stay still);
* an attacker presents the same instrument again, a fresh draw, and moves it twice as
  much as on the first look (each movement parameter doubled within its bounds): a print
  turned like a head, a phone tilted, a video of the student turning.

``bench pad`` and the simulator both render second looks with these parameters.
"""

from __future__ import annotations

from typing import Any

from examgate.augment.bursts_base import get_burst

BONA_FIDE = "bona_fide"
PROMPTED_LIVE: dict[str, Any] = {"still": 0.02, "yaw_deg": 6.0, "pitch_deg": 3.0}
MOVEMENT = ("motion", "head_motion")  # attackers' movement parameters, doubled when prompted


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
