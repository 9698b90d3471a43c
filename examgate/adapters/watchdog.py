"""A watchdog for loops that must keep moving: when a blocking client call hangs past its own
timeout (seen with a transactional producer after a broker restart), the process says where
it is stuck and exits, so that its supervisor (Kubernetes, or the simulator's worker pool)
starts it again. Exiting is safe for the exactly-once loop: an uncommitted transaction is
fenced by the successor that starts under the same transactional id.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("examgate.watchdog")
EXIT_STUCK = 70  # EX_SOFTWARE: distinguishable from a crash in the worker's exit status


def _exit_stuck() -> None:
    os._exit(EXIT_STUCK)  # a hung C call cannot be interrupted; only the process can end


class Watchdog:
    """Calls ``on_stuck`` (default: end the process) when :meth:`beat` is not called for
    ``limit_s`` seconds while it runs."""

    def __init__(self, name: str, limit_s: float,
                 on_stuck: Callable[[], None] = _exit_stuck,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.limit_s, self._on_stuck, self._clock = name, limit_s, on_stuck, clock
        self._last = clock()
        self._stage = "starting"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, stage: str) -> None:
        """The loop made progress and is now in ``stage`` (named in the log if it hangs)."""
        self._last, self._stage = self._clock(), stage

    def start(self) -> Watchdog:
        """Begin watching in a daemon thread."""
        self._last = self._clock()
        self._thread = threading.Thread(target=self._watch, name=f"watchdog-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the loop ended on purpose)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self) -> None:
        tick = min(1.0, self.limit_s / 4)
        while not self._stop.wait(tick):
            stalled = self._clock() - self._last
            if stalled > self.limit_s:
                log.critical("%s: no progress for %.0f s (stuck in %s); exiting so that the "
                             "worker is started again. Stacks follow.", self.name, stalled,
                             self._stage)
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                self._on_stuck()
                return
