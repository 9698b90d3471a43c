"""Live traffic and proctors for ``examgate bench release``: gates that keep checking
students in, and proctors who give their verdict on what the gates did not let through.

The load runs until told to stop, in short rounds of check-ins sent at a steady rate
(a genuine student or, every fourth, an impostor claiming a student's name: someone who
is not enrolled, so that only the accept threshold stands between them and an ACCEPT; an
enrolled classmate would be stopped by the cohort check whatever the threshold). After
each round the simulated proctors look at every check-in that was not ACCEPTed (at a
real gate a REVIEW or a REJECT meets a proctor) and publish the truth as Feedback, which
is what the canary analysis counts as confirmed false accepts and rejects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from examgate.adapters.kafka import EventPublisher
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings
from simulator.driver import DecisionCollector, Outcome, Probe, replay

log = logging.getLogger("examgate.bench.release")
EXAM = "release"
GATES = "rel-*"


def cohort(settings: Settings, students: int) -> list[tuple[str, list[bytes]]]:
    """LFW people outside the calibration set with two or more photos: the first enrolled,
    the others (up to four) probed in turn (past ``students``: the people who are not
    enrolled, the impostors)."""
    from examgate.models import lfw
    from examgate.models.bootstrap import calibration_identities

    excluded = calibration_identities(settings.data.lfw_dir)
    people = sorted((n, imgs) for n, imgs in lfw.people(settings.data.lfw_dir).items()
                    if len(imgs) >= 2 and n not in excluded)[:students]
    return [(n, [Path(i).read_bytes() for i in imgs[:5]]) for n, imgs in people]


@dataclass
class LiveTraffic:
    """Check-ins at ``rate`` over ``gates`` gates, in rounds of ``round_s`` seconds."""

    settings: Settings
    collector: DecisionCollector
    people: Sequence[tuple[str, list[bytes]]]
    rate: float
    outsiders: Sequence[tuple[str, list[bytes]]]  # not enrolled: the impostors
    gates: int = 12  # at fraction 0.25, rel-9 and rel-10 are the canary's
    round_s: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    verdicts: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _sent: int = 0

    def _round(self) -> list[Probe]:
        out = []
        for i in range(int(self.rate * self.round_s)):
            k = self._sent + i
            student, photos = self.people[k % len(self.people)]
            impostor = k % 4 == 3
            if impostor:
                other = self.outsiders[(k // 4) % len(self.outsiders)]
                photo = other[1][(k // 4) % len(other[1])]
            else:
                photo = photos[1 + k % (len(photos) - 1)]
            # A stride that is not a multiple of 4 or of the cohort: impostors and every
            # student reach every gate, the canary's included.
            gate = (k + k // 4) % self.gates + 1
            out.append(Probe(f"rel-{gate}", student, photo, i / self.rate,
                             {"kind": "impostor" if impostor else "genuine"}))
        self._sent += len(out)
        return out

    def _proctors(self, outcomes: list[Outcome], publisher: EventPublisher) -> None:
        topic = self.settings.kafka.topics.feedback
        for o in outcomes:
            if o.decision is None or o.decision["outcome"] == "ACCEPT":
                continue
            verdict = ("DIFFERENT_PERSON" if o.probe.label["kind"] == "impostor"
                       else "SAME_PERSON")
            publisher.publish(topic, o.event_id, "Feedback", events.feedback(
                decision_event_id=o.event_id, verdict=verdict, reviewer_id="sim-proctor"))
            self.verdicts += 1
        publisher.flush()

    def _run(self) -> None:
        publisher = EventPublisher(self.settings.kafka, EventCodec(), client_id="sim-proctors")
        while not self._stop.is_set():
            got = replay(self.settings, self._round(), EXAM, self.collector, timeout=300,
                         progress_bar=False)
            self.outcomes.extend(got)
            self._proctors(got, publisher)

    def start(self) -> None:
        """Start the gates (a thread)."""
        self._thread = threading.Thread(target=self._run, name="release-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the round in flight (and wait for its decisions), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
