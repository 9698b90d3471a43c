"""The second look at a simulated gate: one new burst after the prompt to turn.

A gate that gets REVIEW ``LIVENESS_UNCERTAIN`` for a face that only lacked a head's
motion (:func:`examgate.core.policy.second_look`) shows the prompt and sends one new
check-in, as the API's kiosks do. The simulator does the same after the first round:
each such check-in is planned again with what stands before the camera after the prompt
(:mod:`examgate.augment.prompted`: a student turns, an attacker moves the print or
screen twice as much), a fresh burst draw, the same photo and transforms. It is decided
on its own by the same rules; the report judges each transaction by its last attempt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from examgate.augment.prompted import prompted_params
from examgate.core.policy import second_look
from simulator.driver import Outcome
from simulator.scenario import PlannedCheckIn

SEED_OFFSET = 1_000_003  # the second look's burst is a fresh draw, reproducible per seed


def second_look_plan(plan: Sequence[PlannedCheckIn], outcomes: Sequence[Outcome],
                     spacing_s: float) -> list[tuple[PlannedCheckIn, str]]:
    """Each check-in to send again and the id of the first one, ``spacing_s`` apart, in
    the order of the first round. Indexes count from 0 in this new plan."""
    out: list[tuple[PlannedCheckIn, str]] = []
    for o in sorted(outcomes, key=lambda o: o.probe.at_s):
        if o.decision is None or second_look(o.decision) is None:
            continue
        first = plan[o.probe.label["index"]]
        params = dict(first.instrument_params)
        if first.instrument is not None:
            params.update(prompted_params(first.instrument))
        again = dataclasses.replace(
            first, index=len(out), checkin_id=f"{first.checkin_id}-look2",
            send_offset_s=len(out) * spacing_s, seed=first.seed + SEED_OFFSET,
            instrument_params=params)
        out.append((again, first.checkin_id))
    return out
