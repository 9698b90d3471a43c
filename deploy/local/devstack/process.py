"""Detached service processes: spawn, PID files, and stopping only what we started."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

# Popen handles of services spawned by this interpreter, kept so that a stopped
# child is reaped (a zombie would still look alive to kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}


def read_pid(pid_file: Path) -> int | None:
    """The PID recorded in ``pid_file``, or None when absent or unreadable."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(pid_file: Path, pid: int) -> None:
    """Record ``pid`` atomically, so a reader never sees half a number."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def _reap(pid: int) -> int | None:
    """Collect the exit status of our own exited child; None while it runs or if not ours."""
    child = _children.get(pid)
    if child is not None:
        return child.poll()
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # The state letter follows the parenthesised command name.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def command_line(pid: int) -> str:
    """The command line of ``pid`` as one string ('' when it cannot be read)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace"
        )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip()
    return ""


def is_ours(pid: int, signature: str) -> bool:
    """Whether ``pid`` is a live service we spawned: its own session leader running ``signature``.

    A recorded PID can be reused by an unrelated process after a reboot or a crash;
    both checks together make killing a stranger very unlikely.
    """
    if not is_alive(pid):
        return False
    try:
        if os.getpgid(pid) != pid:
            return False
    except ProcessLookupError:
        return False
    return signature in command_line(pid)


def spawn(
    argv: Sequence[str],
    log_file: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached in its own session, output appended to ``log_file``; return PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with log_file.open("ab") as out:
        stamp = datetime.now().isoformat(timespec="seconds")
        out.write(f"\n===== {stamp} starting: {argv[0]} =====\n".encode())
        out.flush()
        # A new session keeps the service alive after this CLI exits and lets
        # stop() signal the whole process group (MLflow forks its workers).
        child = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=full_env, cwd=cwd, start_new_session=True, close_fds=True,
        )
    _children[child.pid] = child
    _wait_exec_visible(child.pid, argv[0])
    write_pid(pid_file, child.pid)
    return child.pid


def _wait_exec_visible(pid: int, program: str, timeout_s: float = 2.0) -> None:
    """Wait until /proc shows ``pid``'s new command line.

    Popen returns once the exec has begun; the kernel fills in the new command line a
    moment later, and on a busy machine a check in that window read '' (4 of 300
    spawns under load), so a fresh service did not look like ours.
    """
    name = Path(program).name
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_alive(pid):
        if name in command_line(pid):
            return
        time.sleep(0.005)


def exit_code(pid: int) -> int | None:
    """The exit code of a child spawned here if it has ended, else None."""
    child = _children.get(pid)
    return child.poll() if child is not None else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def stop(pid_file: Path, signature: str, grace_s: float = 20.0) -> str:
    """Stop the process recorded in ``pid_file`` if it is ours; return what happened.

    Returns ``"stopped"``, ``"killed"`` (did not exit within ``grace_s`` after SIGTERM),
    ``"stale"`` (the PID was gone or belonged to someone else) or ``"none"`` (no PID file).
    The PID file is removed in every case but ``"none"``.
    """
    pid = read_pid(pid_file)
    if pid is None:
        if pid_file.exists():
            pid_file.unlink()
            return "stale"
        return "none"
    if not is_ours(pid, signature):
        pid_file.unlink(missing_ok=True)
        return "stale"
    _signal_group(pid, signal.SIGTERM)
    outcome = "stopped"
    if not _wait_gone(pid, grace_s):
        log.warning("pid %d did not exit %.0f s after SIGTERM; sending SIGKILL", pid, grace_s)
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
        outcome = "killed"
    # Helpers left in the group (e.g. MLflow workers) go with their leader.
    _signal_group(pid, signal.SIGKILL)
    _children.pop(pid, None)
    pid_file.unlink(missing_ok=True)
    return outcome


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a text file ('' if missing)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
