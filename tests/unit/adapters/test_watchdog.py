"""The watchdog ends a loop that stopped moving, and only then."""

from __future__ import annotations

import threading
import time

from examgate.adapters.watchdog import Watchdog


def test_a_loop_that_keeps_beating_is_left_alone() -> None:
    fired = threading.Event()
    dog = Watchdog("test", 0.3, on_stuck=fired.set).start()
    try:
        for _ in range(10):
            dog.beat("work")
            time.sleep(0.05)
        assert not fired.is_set()
    finally:
        dog.stop()


def test_a_hung_loop_is_ended() -> None:
    fired = threading.Event()
    dog = Watchdog("test", 0.2, on_stuck=fired.set).start()
    dog.beat("send_offsets_to_transaction")
    assert fired.wait(3), "the watchdog did not fire"
    dog.stop()


def test_the_default_is_to_exit_with_a_status_of_its_own(tmp_path) -> None:
    import subprocess
    import sys

    code = ("import time\nfrom examgate.adapters.watchdog import Watchdog\n"
            "Watchdog('t', 0.2).start().beat('hung call')\ntime.sleep(10)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    assert done.returncode == 70
    assert "hung call" in done.stderr and "Thread" in done.stderr
