"""Scaling the processors' consumer group under load: a worker joins, another leaves, and every
check-in is still decided exactly once."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from streaming_world import (
    check_in,
    decisions,
    decisions_on_topic,
    enroll,
    make_world,
    people,
)

from examgate.core.settings import Settings
from simulator.driver import Workers

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """One worker on this module's own topics."""
    yield from make_world(stack, metrics_port=9490)


def test_worker_joins_and_leaves_under_load(world: dict) -> None:
    s = world["settings"]
    (name, imgs), = people(s, 12)[11:12]
    sid = f"{name}-{uuid.uuid4().hex[:6]}"
    enroll(world, sid, imgs[0].read_bytes())
    probe = imgs[1].read_bytes()
    sent: list[str] = []
    stop = threading.Event()

    def load() -> None:  # ~10 check-ins/s over 6 gates (all 3 partitions)
        i = 0
        while not stop.is_set():
            sent.append(check_in(world, sid, probe, gate=f"gate-{i % 6}"))
            i += 1
            time.sleep(0.1)

    workers: Workers = world["workers"]
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        time.sleep(4)
        joiner = workers.start_one(1)  # scale out: the group rebalances
        time.sleep(12)
        leaver = workers.procs[0]
        leaver.send_signal(signal.SIGTERM)  # scale in: a clean leave, mid-load
        leaver.wait(30)
        workers.procs.remove(leaver)
        time.sleep(6)
    finally:
        stop.set()
        loader.join()
    assert joiner.poll() is None, "the joining worker died"
    got = decisions(world, sent, timeout=120)
    deciders = Counter(d["processor_id"] for d in got.values())
    assert {"w0", "w1"} <= set(deciders), f"both workers should have decided: {deciders}"
    counts = decisions_on_topic(world, sent)
    wanted = set(sent)
    assert set(counts) == wanted, f"{len(wanted - set(counts))} check-in(s) lost"
    assert max(counts.values()) == 1, "a check-in was decided twice"
