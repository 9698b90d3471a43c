"""The load driver: starts processor workers, enrolls a cohort, replays check-ins on a
schedule as gate producers would, and collects every decision with its end-to-end latency.

Used by ``examgate demo``, ``examgate simulate`` and ``examgate bench e2e``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from examgate.adapters import factory as ports
from examgate.adapters.kafka import EventPublisher, EventReader, KafkaClients, group_lag
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings

log = logging.getLogger("examgate.driver")


def progress() -> Progress:
    """The progress bar style used by every long step."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)


@dataclass(frozen=True)
class Probe:
    """One planned check-in: who claims to be whom, the frames, and when to send it."""

    gate_id: str
    claimed_student_id: str
    frame: bytes
    at_s: float  # seconds after the replay starts
    label: dict[str, Any] = field(default_factory=dict)  # ground truth, kept on this side only
    extra_frames: tuple[bytes, ...] = ()  # the burst after the primary frame (JPEGs)


@dataclass
class Outcome:
    """A probe joined with its decision."""

    probe: Probe
    event_id: str
    sent_at: float
    decision: dict[str, Any] | None = None
    received_at: float | None = None

    @property
    def latency_ms(self) -> float | None:
        """From publish to the decision being readable on the topic."""
        if self.decision is None or self.received_at is None:
            return None
        return (self.received_at - self.decision["published_at"].timestamp()) * 1000


class Workers:
    """Processor workers as child processes (a consumer group of ``n``)."""

    def __init__(self, settings: Settings, n: int, log_dir: Path,
                 slices: str = "verify,enroll", first_metrics_port: int = 9400,
                 restart: bool = False) -> None:
        self.settings = settings
        self.n = n
        self.log_dir = log_dir
        self.slices = slices
        self.first_port = first_metrics_port
        self.procs: list[subprocess.Popen] = []
        # As Kubernetes would: a worker that exits is started again under the same id, which
        # fences its predecessor's open transaction.
        self.restart = restart
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start_one(self, index: int) -> subprocess.Popen:
        """Start worker ``index`` (logs to ``log_dir/worker-<index>.log``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"worker-{index}.log", "ab")  # noqa: SIM115 - owned by child
        cmd = [sys.executable, "-m", "examgate.cli", "process", "--slices", self.slices,
               "--metrics-port", str(self.first_port + index), "--worker-id", f"w{index}"]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ), start_new_session=True)
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)
        return proc

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for index, proc in enumerate(list(self.procs)):
                if proc.poll() is not None and not self._stopping.is_set():
                    log.warning("worker %d exited (code %s); starting it again, see %s",
                                index, proc.returncode, self.log_dir / f"worker-{index}.log")
                    self.start_one(index)
                    self.restarts += 1

    def __enter__(self) -> Workers:
        for i in range(self.n):
            self.start_one(i)
        log.info("started %d processor worker(s); logs in %s", self.n, self.log_dir)
        if self.restart:
            self._watcher = threading.Thread(target=self._watch, name="workers", daemon=True)
            self._watcher.start()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop every worker (SIGKILL after ``timeout``)."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(5)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> int:
        """How many workers are still running."""
        return sum(p.poll() is None for p in self.procs)


@contextmanager
def scoped_env(env: dict[str, str]) -> Iterator[None]:
    """Set environment variables (read by load_settings and inherited by the workers
    started meanwhile) and put the previous values back afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for_group(settings: Settings, members: int, timeout: float = 120.0) -> None:
    """Wait until the processors' consumer group is stable with ``members`` members."""
    admin = KafkaClients(settings.kafka).admin()
    group = settings.kafka.processor_group
    end = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < end:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
            state = f"{desc.state.name} with {len(desc.members)} member(s)"
            if desc.state.name == "STABLE" and len(desc.members) >= members:
                return
        except Exception as exc:  # noqa: BLE001 - the group does not exist until a worker joins
            state = str(exc)
        time.sleep(1.0)
    raise TimeoutError(f"processor group not ready after {timeout:.0f} s ({state}); "
                       "see the worker logs")


class DecisionCollector(threading.Thread):
    """Reads the decisions topic in the background and matches decisions to event ids."""

    def __init__(self, settings: Settings, codec: EventCodec) -> None:
        super().__init__(name="decisions", daemon=True)
        self.ready = threading.Event()
        # From the beginning, so no decision can slip past between subscribing and the
        # first fetch; earlier runs' decisions are simply never asked for.
        self.reader = EventReader(settings.kafka, codec, [settings.kafka.topics.decisions],
                                  on_assign=lambda _p: self.ready.set())
        self.decisions: dict[str, tuple[dict[str, Any], float]] = {}
        self.duplicates = 0
        self._stop_event = threading.Event()
        self._cond = threading.Condition()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for item, received in self.reader.events(timeout=0.5):
                if isinstance(item, Exception):
                    log.warning("collector: undecodable decision: %s", item)
                    continue
                with self._cond:
                    eid = item.record["event_id"]
                    if eid in self.decisions:
                        self.duplicates += 1
                    else:
                        self.decisions[eid] = (item.record, received)
                    self._cond.notify_all()
        self.reader.close()

    def wait_for(self, event_ids: Iterable[str], timeout: float,
                 on_progress: Callable[[int], None] | None = None) -> set[str]:
        """Block until every id has a decision or ``timeout``; returns the missing ids."""
        wanted = set(event_ids)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = wanted - self.decisions.keys()
                if on_progress:
                    on_progress(len(wanted) - len(missing))
                if not missing or time.monotonic() >= end:
                    return missing
                self._cond.wait(0.5)

    def stop(self) -> None:
        """Finish reading."""
        self._stop_event.set()


class LagSampler(threading.Thread):
    """Samples the processors' consumer lag on the check-in topic once a second."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="lag", daemon=True)
        self.settings = settings
        self.series: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self._stop_event.wait(1.0):
            try:
                lag = group_lag(self.settings.kafka, self.settings.kafka.processor_group,
                                self.settings.kafka.topics.checkins)
            except Exception as exc:  # noqa: BLE001 - a missed sample is not fatal
                log.debug("lag sample failed: %s", exc)
                continue
            self.series.append((time.monotonic() - start, lag))

    def stop(self) -> None:
        """Stop sampling."""
        self._stop_event.set()


def replay(settings: Settings, probes: Sequence[Probe], exam_id: str,
           collector: DecisionCollector, *, timeout: float = 300.0,
           progress_bar: bool = True) -> list[Outcome]:
    """Send every probe at its time (as gates would) and wait for all decisions."""
    codec = EventCodec()
    publisher = EventPublisher(settings.kafka, codec, client_id="simulator")
    topic = settings.kafka.topics.checkins
    outcomes: list[Outcome] = []
    ordered = sorted(probes, key=lambda p: p.at_s)
    with progress() as bar:
        sent_task = bar.add_task("check-ins sent", total=len(ordered), visible=progress_bar)
        start = time.monotonic()
        for probe in ordered:
            delay = probe.at_s - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            record = events.checkin(
                gate_id=probe.gate_id, exam_id=exam_id,
                claimed_student_id=probe.claimed_student_id,
                frame=events.inline_frame(probe.frame),
                extra_frames=[events.inline_frame(b) for b in probe.extra_frames],
                camera_meta=events.camera(f"cam-{probe.gate_id}", 0, 0, source="simulator"))
            publisher.publish(topic, probe.gate_id, "CheckIn", record)
            outcomes.append(Outcome(probe, record["event_id"], time.time()))
            bar.advance(sent_task)
        report = publisher.flush()
        if report.failed:
            log.error("%d check-in(s) were not delivered: %s", len(report.failed),
                      report.failed[:3])
        got_task = bar.add_task("decisions received", total=len(outcomes), visible=progress_bar)
        missing = collector.wait_for([o.event_id for o in outcomes], timeout,
                                     lambda n: bar.update(got_task, completed=n))
    if missing:
        log.error("%d check-in(s) got no decision within %.0f s", len(missing), timeout)
    for o in outcomes:
        got = collector.decisions.get(o.event_id)
        if got is not None:
            o.decision, o.received_at = got
    return outcomes


def enroll_cohort(settings: Settings, students: Sequence[tuple[str, list[bytes]]],
                  model_version: str, *, timeout: float = 900.0) -> set[str]:
    """Enroll (REPLACE) every student, wait until the processors have handled every request,
    and return the students left without a template (see the enrollment dead letters)."""
    store = ports.template_store(settings)
    publisher = EventPublisher(settings.kafka, EventCodec(), client_id="simulator-enroll")
    topic = settings.kafka.topics.enrollments
    group = settings.kafka.processor_group
    backlog = group_lag(settings.kafka, group, topic)
    with progress() as bar:
        task = bar.add_task("enrollment requests handled", total=len(students))
        for sid, images in students:
            record = events.enrollment(student_id=sid, action="REPLACE",
                                       images=[events.inline_frame(i) for i in images],
                                       requested_by="simulator")
            publisher.publish(topic, sid, "Enrollment", record)
        report = publisher.flush()
        if report.failed:
            raise RuntimeError(f"{len(report.failed)} enrollment request(s) not delivered")
        end = time.monotonic() + timeout
        while True:
            lag = max(0, group_lag(settings.kafka, group, topic) - backlog)
            bar.update(task, completed=len(students) - min(lag, len(students)))
            if lag == 0:
                break
            if time.monotonic() > end:
                raise TimeoutError(f"{lag} enrollment request(s) still unhandled after "
                                   f"{timeout:.0f} s; see the worker logs")
            time.sleep(0.5)
    enrolled = set(store.students(model_version))
    failed = {sid for sid, _ in students} - enrolled
    if failed:
        log.warning("%d student(s) could not be enrolled (see %s%s): %s", len(failed), topic,
                    settings.kafka.topics.dlq_suffix, ", ".join(sorted(failed)[:10]))
    return failed


@dataclass
class LoadRun:
    """What a run through the system produced."""

    outcomes: list[Outcome]
    lag_series: list[tuple[float, int]]
    duplicates: int
    workers_lost: int
    second: list[Outcome] = field(default_factory=list)  # the follow-up round, if any


def run_through_system(settings: Settings, cohort: Sequence[tuple[str, list[bytes]]],
                       probes: Sequence[Probe], *, model_version: str, exam_id: str,
                       workers: int = 1, timeout: float = 300.0,
                       follow_up: Callable[[list[Outcome]], list[Probe]] | None = None
                       ) -> LoadRun:
    """Start ``workers`` processors, enroll ``cohort``, replay ``probes`` and collect
    every decision, sampling the consumer lag all along; ``follow_up`` turns the decided
    round into the probes gates send next (second looks), replayed the same way."""
    with Workers(settings, workers, settings.stack.state_dir / "logs") as running:
        wait_for_group(settings, workers)
        enroll_cohort(settings, cohort, model_version)
        collector = DecisionCollector(settings, EventCodec())
        collector.start()
        if not collector.ready.wait(60):
            raise TimeoutError("the decision reader got no partitions in 60 s")
        lag = LagSampler(settings)
        lag.start()
        try:
            outcomes = replay(settings, probes, exam_id, collector, timeout=timeout)
            again = follow_up(outcomes) if follow_up is not None else []
            second = (replay(settings, again, exam_id, collector, timeout=timeout)
                      if again else [])
        finally:
            lag.stop()
            collector.stop()
        lost = workers - running.alive()
        if lost:
            log.error("%d processor worker(s) died during the run; see their logs", lost)
    return LoadRun(outcomes, lag.series, collector.duplicates, lost, second)
