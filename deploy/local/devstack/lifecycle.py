"""Bring the local stack up, down, and report on it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from examgate.core.settings import Settings

from .base import Service, StackError, StackPaths
from .kafka_broker import KafkaService
from .mlflow_server import MlflowService
from .object_store import ObjectStoreService
from .process import exit_code, is_alive, is_ours, read_pid, spawn, stop, tail
from .redis_server import RedisService

log = logging.getLogger("examgate.stack")

# Start order; dependents come after what they depend on.
SERVICE_TYPES: tuple[type[Service], ...] = (
    RedisService, ObjectStoreService, KafkaService, MlflowService,
)
SERVICE_NAMES: tuple[str, ...] = tuple(t.name for t in SERVICE_TYPES)


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``stack status``."""

    name: str
    address: str
    healthy: bool
    detail: str
    pid: int | None
    """The PID of the server we started, None if it is not ours (or not running)."""


def build_services(settings: Settings) -> list[Service]:
    """Every service of the local stack, in start order."""
    paths = StackPaths.from_settings(settings)
    return [t(settings, paths) for t in SERVICE_TYPES]


def select(services: Sequence[Service], names: Iterable[str] | None,
           with_dependencies: bool = True) -> list[Service]:
    """The services named (all when ``names`` is None), in start order, optionally with deps."""
    by_name = {s.name: s for s in services}
    if names is None:
        return list(services)
    wanted = set(names)
    unknown = wanted - by_name.keys()
    if unknown:
        raise StackError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(by_name)}")
    if with_dependencies:
        todo = list(wanted)
        while todo:
            for dep in by_name[todo.pop()].depends_on:
                if dep not in wanted:
                    wanted.add(dep)
                    todo.append(dep)
    return [s for s in services if s.name in wanted]


@contextlib.contextmanager
def _stack_lock(settings: Settings) -> Iterator[None]:
    """Serialise concurrent ``up``/``down`` calls (two terminals, CI and a test session)."""
    paths = StackPaths.from_settings(settings)
    for sub in ("logs", "pids"):
        (paths.state_dir / sub).mkdir(parents=True, exist_ok=True)
    with (paths.state_dir / "stack.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _our_pid(svc: Service) -> int | None:
    pid = read_pid(svc.pid_file)
    return pid if pid is not None and is_ours(pid, svc.signature) else None


def _start(svc: Service) -> float | None:
    """Start ``svc`` unless it is healthy already; return when it started, None if left alone."""
    health = svc.check()
    pid = _our_pid(svc)
    if health.ok:
        owner = f"pid {pid}" if pid else "not started by us"
        log.info("%s: already healthy at %s (%s), leaving it alone", svc.name, svc.address, owner)
        return None
    if pid is not None:
        log.info("%s: our server (pid %d) is still starting; waiting for it", svc.name, pid)
        return time.monotonic()
    svc.pid_file.unlink(missing_ok=True)
    began = time.monotonic()
    svc.prepare()
    pid = spawn(svc.command(), svc.log_file, svc.pid_file, svc.environment(), cwd=svc.data_dir)
    log.info("%s: starting at %s (pid %d, log %s)", svc.name, svc.address, pid, svc.log_file)
    return began


def install_missing(services: Sequence[Service]) -> None:
    """Install whatever ``services`` lack, all at once: downloads and the Go build overlap."""
    missing = [s for s in services if not s.is_installed()]

    def install(svc: Service) -> None:
        log.info("%s: not installed yet; installing (output in %s)", svc.name, svc.install_log)
        began = time.monotonic()
        svc.install()
        log.info("%s: installed in %.1f s", svc.name, time.monotonic() - began)

    with ThreadPoolExecutor(max_workers=max(1, len(missing))) as pool:
        futures = [pool.submit(install, s) for s in missing]
    failures = [str(f.exception()) for f in futures if f.exception() is not None]
    if failures:
        raise StackError("; ".join(failures))


def _healthy_yet(svc: Service, began: float, timeout_s: float) -> bool:
    """One health poll of a starting server; raise if it died or ran out of time."""
    health = svc.check()
    if health.ok:
        log.info("%s: healthy at %s (started in %.1f s)", svc.name, svc.address,
                 time.monotonic() - began)
        return True
    logs = " and ".join(str(p) for p in svc.log_files())
    pid = read_pid(svc.pid_file)
    if pid is not None and not is_alive(pid):
        code = exit_code(pid)
        svc.pid_file.unlink(missing_ok=True)
        raise StackError(
            f"{svc.name}: the server exited (code {code}) before it became healthy; "
            f"see {logs}. Last lines of {svc.log_file}:\n{tail(svc.log_file)}")
    if time.monotonic() - began > timeout_s:
        raise StackError(f"{svc.name}: still not healthy after {timeout_s:.0f} s "
                         f"({health.detail}); see {logs}")
    return False


class _Bringup:
    """Starts services, then polls all starting ones together so each reports its own time."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.starting: dict[str, tuple[Service, float]] = {}
        self.ready: set[str] = set()

    def start(self, svc: Service) -> None:
        began = _start(svc)
        if began is not None:
            self.starting[svc.name] = (svc, began)

    def ready_all(self, services: Sequence[Service]) -> None:
        """Wait until every one of ``services`` is healthy, then provision each."""
        pending = [s for s in services if s.name not in self.ready]
        while any(s.name in self.starting for s in pending):
            for name, (svc, began) in list(self.starting.items()):
                if _healthy_yet(svc, began, self.timeout_s):
                    del self.starting[name]
            if any(s.name in self.starting for s in pending):
                time.sleep(0.5)
        for svc in pending:
            svc.provision()
            self.ready.add(svc.name)


def start_services(services: Sequence[Service], timeout_s: float) -> None:
    """Start ``services`` (in order, dependencies included) and wait until all are provisioned."""
    by_name = {s.name: s for s in services}
    install_missing([s for s in services if not s.check().ok and _our_pid(s) is None])
    bringup = _Bringup(timeout_s)
    # Independent services start together; a dependent one waits for its
    # dependencies to be healthy and provisioned (MLflow needs its bucket).
    for svc in services:
        bringup.ready_all([by_name[d] for d in svc.depends_on if d in by_name])
        bringup.start(svc)
    bringup.ready_all(services)


def up(settings: Settings, names: Iterable[str] | None = None) -> list[ServiceStatus]:
    """Install what is missing, start what is not healthy, then create topics and buckets."""
    services = select(build_services(settings), names)
    began_all = time.monotonic()
    with _stack_lock(settings):
        start_services(services, settings.stack.start_timeout_s)
    log.info("stack: %d service(s) healthy in %.1f s", len(services),
             time.monotonic() - began_all)
    return status(settings, [s.name for s in services])


def down(settings: Settings, names: Iterable[str] | None = None) -> dict[str, str]:
    """Stop the services we started (by recorded PID); return what happened to each."""
    services = select(build_services(settings), names, with_dependencies=False)
    outcomes: dict[str, str] = {}
    with _stack_lock(settings):
        for svc in reversed(services):
            pid = read_pid(svc.pid_file)
            outcome = stop(svc.pid_file, svc.signature, svc.stop_grace_s)
            outcomes[svc.name] = outcome
            if outcome in ("stopped", "killed"):
                log.info("%s: %s (was pid %s)", svc.name, outcome, pid)
            elif outcome == "stale":
                log.info("%s: pid file pointed at no server of ours; removed it", svc.name)
            else:
                log.info("%s: not started by us; nothing to stop", svc.name)
    return outcomes


def kill(settings: Settings, names: Iterable[str]) -> dict[str, int | None]:
    """SIGKILL the named services we started, as a crash would (a fault drill); returns
    each one's killed PID, None when it was not running as ours. Data stays, so a later
    ``up`` recovers from what the crash left."""
    services = select(build_services(settings), names, with_dependencies=False)
    killed: dict[str, int | None] = {}
    for svc in services:
        pid = read_pid(svc.pid_file)
        if pid is None or not is_ours(pid, svc.signature):
            killed[svc.name] = None
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        killed[svc.name] = pid
        log.info("%s: killed (SIGKILL, pid %d)", svc.name, pid)
    return killed


def status(settings: Settings, names: Iterable[str] | None = None) -> list[ServiceStatus]:
    """Health, address and PID of each service."""
    rows = []
    for svc in select(build_services(settings), names, with_dependencies=False):
        health = svc.check()
        rows.append(ServiceStatus(svc.name, svc.address, health.ok, health.detail, _our_pid(svc)))
    return rows
