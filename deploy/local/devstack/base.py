"""What every local service looks like to ``stack up``: install, prepare, command, health."""

from __future__ import annotations

import os
import socket
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from examgate.core.settings import Settings

# The install scripts travel with the package (package data), so a wheel can start a stack.
SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"


class StackError(RuntimeError):
    """A local service could not be installed, started or provisioned."""


@dataclass(frozen=True)
class Health:
    """The outcome of one health check."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class StackPaths:
    """Where the stack keeps state (data, logs, PIDs) and downloads."""

    state_dir: Path
    cache_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StackPaths:
        """Paths named by ``settings.stack``, made absolute."""
        return cls(settings.stack.state_dir.resolve(), settings.stack.cache_dir.resolve())

    def data(self, service: str) -> Path:
        """The folder holding one service's data and rendered config."""
        return self.state_dir / service

    def log(self, service: str) -> Path:
        """The file receiving one service's console output."""
        return self.state_dir / "logs" / f"{service}.log"

    def pid(self, service: str) -> Path:
        """The file recording the PID of a service we started."""
        return self.state_dir / "pids" / f"{service}.pid"


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (or a URL) into host and port."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def run_script(
    script: str, args: list[str], log_file: Path, env: dict[str, str] | None = None
) -> None:
    """Run ``devstack/scripts/<script>`` with output appended to ``log_file``; raise on failure."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        code = subprocess.run(["bash", str(SCRIPTS_DIR / script), *args], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})}).returncode
    if code != 0:
        raise StackError(f"{script} failed (exit {code}); see {log_file}")


class Service(ABC):
    """One local server process the stack installs, starts, checks and provisions."""

    name: ClassVar[str]
    signature: ClassVar[str]
    """A substring of the server's command line, used to recognise our own process."""
    depends_on: ClassVar[tuple[str, ...]] = ()
    stop_grace_s: ClassVar[float] = 20.0

    def __init__(self, settings: Settings, paths: StackPaths) -> None:
        self.settings = settings
        self.paths = paths

    @property
    @abstractmethod
    def address(self) -> str:
        """Where clients reach the service."""

    @abstractmethod
    def is_installed(self) -> bool:
        """Whether everything needed to start it is already on this machine."""

    @abstractmethod
    def install(self) -> None:
        """Fetch or build what is missing (slow, cached under ``cache_dir``)."""

    def prepare(self) -> None:
        """Write config files and initialise data folders before each start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    def environment(self) -> dict[str, str]:
        """Extra environment variables for the server process."""
        return {}

    @abstractmethod
    def check(self, timeout_s: float = 2.0) -> Health:
        """Ask the running service whether it works."""

    def provision(self) -> None:
        """Create what the system expects (topics, buckets) once the service is healthy."""
        return None

    @property
    def data_dir(self) -> Path:
        """This service's folder under the state folder."""
        return self.paths.data(self.name)

    @property
    def log_file(self) -> Path:
        """Where the server's console output goes."""
        return self.paths.log(self.name)

    @property
    def pid_file(self) -> Path:
        """Where the PID of our server process is recorded."""
        return self.paths.pid(self.name)

    def log_files(self) -> list[Path]:
        """Every log worth reading when the service misbehaves."""
        return [self.log_file]

    @property
    def install_log(self) -> Path:
        """Where the install script's output goes."""
        return self.paths.log(f"install-{self.name}")
