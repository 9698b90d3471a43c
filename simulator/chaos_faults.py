"""The faults of ``examgate bench chaos``: each one injected into a phase of steady load.

Processor workers run as a consumer group of child processes, restarted when they
exit (as Kubernetes would). For each fault a phase of check-ins is replayed at a
steady rate (genuine students and impostors, single frames from gates configured
single-frame, so that an impostor wrongly passed would show as an ACCEPT); the fault
is injected a few seconds in, lasts a while, and ends (`examgate stack up` starts the
killed service again from the data it left). Every check-in of the phase is then
waited for. Per fault: check-ins, lost (never decided), duplicated (decided twice),
wrong ACCEPTs (impostors accepted), and recovery: seconds from the fault's end until
every check-in sent before that end was decided. The poison phase sends the corpus of
:mod:`simulator.chaos_poison` in the middle of normal traffic and looks for each entry's
decision or dead letter.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from examgate.core.settings import Settings
from simulator.driver import (
    DecisionCollector,
    Outcome,
    Probe,
    Workers,
    replay,
)

log = logging.getLogger("examgate.bench.chaos")
EXAM = "chaos"
GATES = "chaos-*"
FAIL_CLOSED = {"TEMPLATE_UNAVAILABLE", "FRAME_UNAVAILABLE", "MODEL_UNAVAILABLE",
               "INTERNAL_ERROR"}
# What an operator watching the deployment sees of each fault (deploy/observability).
OPERATOR_SEES = {
    "worker_sigkill": "the pod restarts; its partitions' check-ins wait for the rebalance "
                      "(ExamGateConsumerLagGrowing if it lasts)",
    "broker_restart": "ExamGateProcessorsDown/lag alerts; a hung worker logs 'exactly-once "
                      "loop: no progress for N s (stuck in <stage>)' and restarts",
    "redis_kill": "decisions REVIEW TEMPLATE_UNAVAILABLE with the Redis error as detail "
                  "(ExamGateGateReviewRateHigh)",
    "object_store_kill": "worker log 'could not keep frame for review'; a frame sent by "
                         "reference is REVIEW FRAME_UNAVAILABLE",
    "mlflow_kill": "nothing on the decision path: workers keep the models they loaded; a "
                   "model change fails to load (ExamGateModelReloadFailed)",
    "poison": "ExamGateDeadLetters by reason; each dead letter names its stage and cause",
}
FAULTS = tuple(OPERATOR_SEES)


@dataclass
class FaultResult:
    """What one fault cost."""

    fault: str
    checkins: int
    lost: int
    duplicated: int
    wrong_accept: int
    recovery_s: float | None
    down_s: float
    restarts: int
    fail_closed: dict[str, int]
    reviews_without_frame: int  # REVIEWs a proctor must decide without the gate's frame
    operator_sees: str
    poison: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Chaos:
    """The running system a fault is injected into."""

    settings: Settings
    workers: Workers
    collector: DecisionCollector
    cohort: list[tuple[str, bytes, bytes]]  # student, enrolled photo, another photo
    rate: float
    phase_s: float
    down_s: float
    fault_at_s: float = 6.0
    timeout_s: float = 300.0

    def probes(self, offset: int) -> list[Probe]:
        """A phase of check-ins: every fourth an impostor (another student's photo)."""
        n, out = int(self.rate * self.phase_s), []
        for i in range(n):
            student, _, photo = self.cohort[(offset + i) % len(self.cohort)]
            impostor = i % 4 == 3
            if impostor:
                photo = self.cohort[(offset + i + 7) % len(self.cohort)][2]
            out.append(Probe(f"chaos-{i % 4 + 1}", student, photo, i / self.rate,
                             {"kind": "impostor" if impostor else "genuine"}))
        return out


def stack(*args: str) -> None:
    """Run ``examgate stack ARGS`` (the operator's own commands) and fail loudly."""
    done = subprocess.run([sys.executable, "-m", "examgate.cli", "stack", *args],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"examgate stack {' '.join(args)} failed: {done.stdout[-800:]}"
                           f"{done.stderr[-800:]}")


def _service_fault(name: str) -> tuple[Callable[[Chaos], None], Callable[[Chaos], None]]:
    return (lambda _c: stack("kill", name)), (lambda _c: stack("up", name))


def _kill_worker(chaos: Chaos) -> None:
    proc = chaos.workers.procs[0]
    os.kill(proc.pid, signal.SIGKILL)  # the Workers' watcher starts it again, as Kubernetes


INJECT: dict[str, tuple[Callable[[Chaos], None], Callable[[Chaos], None]]] = {
    "worker_sigkill": (_kill_worker, lambda _c: None),
    "broker_restart": _service_fault("kafka"),
    "redis_kill": _service_fault("redis"),
    "object_store_kill": _service_fault("object_store"),
    "mlflow_kill": _service_fault("mlflow"),
}


def measure(chaos: Chaos, fault: str, outcomes: list[Outcome], ended_at: float,
            down_s: float, dup0: int, restarts0: int) -> FaultResult:
    """The cost of a phase whose fault ended at ``ended_at`` (epoch s).

    Recovery: until every check-in sent before the end is decided and a check-in sent
    after it is decided normally again (not fail-closed); None when something was lost.
    """
    decided = [o for o in outcomes if o.decision is not None and o.received_at is not None]
    backlog = [o.received_at or 0.0 for o in decided if o.sent_at <= ended_at]
    normal = [o.received_at or 0.0 for o in decided if o.sent_at > ended_at
              and o.decision is not None and o.decision["reason"] not in FAIL_CLOSED]
    lost = len(outcomes) - len(decided)
    wrong = sum(1 for o in decided if o.probe.label.get("kind") == "impostor"
                and o.decision is not None and o.decision["outcome"] == "ACCEPT")
    reasons = Counter(o.decision["reason"] for o in decided if o.decision is not None
                      and o.decision["reason"] in FAIL_CLOSED)
    cleared = max(backlog, default=ended_at)  # the fault's backlog is decided
    if any(o.sent_at > ended_at for o in outcomes):
        # ... and a check-in sent after the end is decided normally (none: not recovered).
        back = max(cleared, min(normal)) if normal else None
    else:
        back = cleared
    return FaultResult(
        fault=fault, checkins=len(outcomes), lost=lost,
        duplicated=chaos.collector.duplicates - dup0, wrong_accept=wrong,
        recovery_s=None if lost or back is None else round(max(0.0, back - ended_at), 1),
        down_s=round(down_s, 1), restarts=chaos.workers.restarts - restarts0,
        fail_closed=dict(reasons),
        reviews_without_frame=sum(1 for o in decided if o.decision is not None
                                  and o.decision["outcome"] == "REVIEW"
                                  and o.decision.get("review_frame") is None),
        operator_sees=OPERATOR_SEES[fault])


def run_fault(chaos: Chaos, fault: str, offset: int = 0) -> FaultResult:
    """Replay a phase with ``fault`` injected ``fault_at_s`` in; measure what it cost."""
    inject, restore = INJECT[fault]
    dup0, restarts0 = chaos.collector.duplicates, chaos.workers.restarts
    outcomes: list[Outcome] = []
    sender = threading.Thread(target=lambda: outcomes.extend(replay(
        chaos.settings, chaos.probes(offset), EXAM, chaos.collector,
        timeout=chaos.timeout_s, progress_bar=False)), name=f"load-{fault}")
    sender.start()
    time.sleep(chaos.fault_at_s)
    began = time.time()
    log.info("chaos: %s", fault)
    inject(chaos)
    time.sleep(chaos.down_s if fault != "worker_sigkill" else 0)
    restore(chaos)
    ended = time.time()
    sender.join()
    time.sleep(3)  # a late duplicate would arrive about now
    return measure(chaos, fault, outcomes, ended if fault != "worker_sigkill" else began,
                    ended - began, dup0, restarts0)


