"""Chaos: the Kafka broker dies (SIGKILL) under load and comes back (review finding 0).

The test runs its own broker (own ports and data, beside the shared local stack's Redis,
MinIO and MLflow), so killing it disturbs no other test. It checks what the promise needs:
no check-in lost, none decided twice, no impostor accepted, and the worker deciding again
soon after the broker is back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from examgate.adapters.kafka import Topics, ensure_topics
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, load_settings

pytestmark = pytest.mark.chaos
BROKER_PORT, CONTROLLER_PORT = 19392, 19393


@pytest.fixture(scope="module")
def own_broker(stack: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Settings]:
    import devstack

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    run = uuid.uuid4().hex[:8]
    env = {"EXAMGATE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{BROKER_PORT}",
           "EXAMGATE_STACK__KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
           "EXAMGATE_STACK__STATE_DIR": str(tmp_path_factory.mktemp(f"chaos-{run}")),
           "EXAMGATE_KAFKA__PROCESSOR_GROUP": f"chaos{run}-processors"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    try:
        devstack.up(settings, ["kafka"])
        ensure_topics(settings.kafka, Topics.from_settings(settings.kafka.topics))
        yield settings
    finally:
        devstack.down(settings, ["kafka"])
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _kill_broker(settings: Settings) -> None:
    from devstack.process import read_pid

    pid = read_pid(settings.stack.state_dir / "pids" / "kafka.pid")
    assert pid, "no PID file for the chaos broker"
    os.kill(pid, signal.SIGKILL)


def test_broker_killed_under_load_loses_and_duplicates_nothing(own_broker: Settings) -> None:
    import devstack

    from examgate.models.bootstrap import bootstrap, calibration_identities
    from examgate.models.lfw import people
    from simulator.driver import (
        DecisionCollector,
        Probe,
        Workers,
        enroll_cohort,
        replay,
        wait_for_group,
    )

    s = own_broker
    version = bootstrap(s)
    excluded = calibration_identities(s.data.lfw_dir)
    chosen = [(n, imgs) for n, imgs in sorted(people(s.data.lfw_dir).items())
              if len(imgs) >= 2 and n not in excluded][:12]
    cohort = [(n, [Path(imgs[0]).read_bytes()]) for n, imgs in chosen]
    genuine = {n: Path(imgs[1]).read_bytes() for n, imgs in chosen}
    rate, seconds = 5.0, 36
    probes = []
    for i in range(int(rate * seconds)):
        student = chosen[i % len(chosen)][0]
        impostor = i % 5 == 4
        frame = genuine[chosen[(i + 3) % len(chosen)][0]] if impostor else genuine[student]
        probes.append(Probe(f"gate-{i % 3}", student, frame, i / rate,
                            {"kind": "impostor" if impostor else "genuine"}))

    with Workers(s, 1, s.stack.state_dir / "logs", first_metrics_port=9470,
                 restart=True) as workers:
        wait_for_group(s, 1)
        enroll_cohort(s, cohort, version)
        collector = DecisionCollector(s, EventCodec())
        collector.start()
        assert collector.ready.wait(60)
        outcomes: list = []
        sender = threading.Thread(target=lambda: outcomes.extend(
            replay(s, probes, "chaos", collector, timeout=240, progress_bar=False)))
        sender.start()
        time.sleep(8)
        _kill_broker(s)
        killed_at = time.monotonic()
        time.sleep(10)
        devstack.up(s, ["kafka"])
        back_at = time.monotonic()
        sender.join(400)
        assert not sender.is_alive(), "the replay did not finish"
        collector.stop()

    lost = [o for o in outcomes if o.decision is None]
    wrong = [o for o in outcomes if o.probe.label["kind"] == "impostor" and o.decision
             and o.decision["outcome"] == "ACCEPT"]
    after = sorted(o.received_at for o in outcomes if o.received_at and
                   o.received_at > time.time() - (time.monotonic() - back_at))
    print(f"chaos broker restart: {len(outcomes)} check-ins, {len(lost)} lost, "
          f"{collector.duplicates} duplicated, {len(wrong)} wrong ACCEPT, broker down "
          f"{back_at - killed_at:.0f} s, worker restarts {workers.restarts}")
    assert len(outcomes) == len(probes)
    assert not lost, f"{len(lost)} check-in(s) never decided"
    assert collector.duplicates == 0
    assert not wrong
    assert after, "nothing was decided after the broker came back"
