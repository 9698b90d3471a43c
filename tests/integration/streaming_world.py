"""A processor worker on a test session's own topics, and helpers to enroll and check in.

Each module that uses ``world`` gets its own topics and consumer group (through
EXAMGATE_* variables that the worker processes inherit), so runs never see each other.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from examgate.adapters.factory import template_store
from examgate.adapters.kafka import EventPublisher, EventReader, Topics, ensure_topics
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, load_settings
from simulator.driver import DecisionCollector, Workers, wait_for_group


def make_world(stack: Settings, metrics_port: int) -> Iterator[dict]:
    """A processor worker on this session's own topics, the champion registered."""
    from examgate.models.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    run = uuid.uuid4().hex[:8]
    env = {f"EXAMGATE_KAFKA__TOPICS__{k.upper()}": f"it{run}.{k}"
           for k in ("checkins", "decisions", "enrollments", "feedback", "model_events")}
    env["EXAMGATE_KAFKA__PROCESSOR_GROUP"] = f"it{run}-processors"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    ensure_topics(settings.kafka, Topics.from_settings(settings.kafka.topics))
    version = bootstrap(settings)
    collector = DecisionCollector(settings, EventCodec())
    collector.start()
    assert collector.ready.wait(60), "decision reader not assigned"
    workers = Workers(settings, 1, settings.stack.state_dir / "logs" / f"it{run}",
                      first_metrics_port=metrics_port)
    with workers:
        wait_for_group(settings, 1)
        world = {"settings": settings, "version": version, "collector": collector,
                 "workers": workers, "publisher": EventPublisher(settings.kafka, EventCodec(),
                                                                 "it")}
        yield world
        if workers.procs and all(p.poll() is None for p in workers.procs):
            forget(world)
    collector.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def people(settings: Settings, n: int) -> list[tuple[str, list[Path]]]:
    """LFW people with three or more photos, outside the calibration split."""
    from examgate.models.bootstrap import calibration_identities
    from examgate.models.lfw import people as lfw_people

    excluded = calibration_identities(settings.data.lfw_dir)
    people = lfw_people(settings.data.lfw_dir)
    chosen = [(name, [Path(p) for p in imgs]) for name, imgs in sorted(people.items())
              if len(imgs) >= 3 and name not in excluded]
    return chosen[:n]


def enroll(world: dict, student: str, photo: bytes, timeout: float = 60) -> None:
    """Enroll ``student`` (``<LFW name>-<suffix>``) with ``photo``, once per person: the same
    face left enrolled under another id (an earlier test or run, the simulator's cohort by
    LFW name) is deleted first. Two ids with one face are look-alikes of each other, and
    their check-ins go to REVIEW LOOKALIKE, as they should at a real gate."""
    s = world["settings"]
    store = template_store(s)
    person = student.rsplit("-", 1)[0]
    stale = [x for x in store.students(world["version"]) if x != student
             and (x == person or x.startswith(f"{person}-"))]
    for other in stale:
        world["publisher"].publish(s.kafka.topics.enrollments, other, "Enrollment",
                                   events.enrollment(student_id=other, action="DELETE"))
    record = events.enrollment(student_id=student, action="REPLACE",
                               images=[events.inline_frame(photo)])
    world["publisher"].publish(s.kafka.topics.enrollments, student, "Enrollment", record)
    world["publisher"].flush()
    world.setdefault("enrolled", set()).add(student)
    end = time.monotonic() + timeout
    while store.get(student, world["version"]) is None or any(
            store.get(x, world["version"]) is not None for x in stale):
        assert time.monotonic() < end, f"{student} was not enrolled in {timeout} s"
        time.sleep(0.2)


def forget(world: dict) -> None:
    """Delete what this world enrolled, so that later runs on the stack (the demo) meet no
    stray copies of their people."""
    s = world["settings"]
    for student in sorted(world.get("enrolled", ())):
        world["publisher"].publish(s.kafka.topics.enrollments, student, "Enrollment",
                                   events.enrollment(student_id=student, action="DELETE"))
    world["publisher"].flush()
    store = template_store(s)
    end = time.monotonic() + 60
    while any(store.get(x, world["version"]) is not None for x in world.get("enrolled", ())):
        if time.monotonic() > end:
            break  # a worker stopped by the test itself: leave it, the next enroll cleans up
        time.sleep(0.2)


def live_burst(photo: bytes, seed: int = 7, frames: int = 5) -> list[bytes]:
    """A gate's burst of a live person: ``photo`` moved with natural micro-motion (JPEGs)."""
    import cv2
    import numpy as np

    from examgate.augment import render_burst

    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    rendered = render_burst("bona_fide", image, np.random.default_rng(seed), frames=frames)
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            for f in rendered]


def check_in(world: dict, student: str, frame: bytes, gate: str = "gate-it",
             extra: list[bytes] | None = None) -> str:
    """Publish a CheckIn of ``frame`` (and its burst ``extra``); returns its event id."""
    s = world["settings"]
    record = events.checkin(gate_id=gate, exam_id="it", claimed_student_id=student,
                            frame=events.inline_frame(frame),
                            extra_frames=[events.inline_frame(b) for b in extra or []],
                            camera_meta=events.camera("cam", 250, 250))
    world["publisher"].publish(s.kafka.topics.checkins, gate, "CheckIn", record)
    return record["event_id"]


def decisions(world: dict, ids: list[str], timeout: float = 90) -> dict[str, dict]:
    world["publisher"].flush()
    missing = world["collector"].wait_for(ids, timeout)
    assert not missing, f"{len(missing)} check-in(s) got no decision"
    return {i: world["collector"].decisions[i][0] for i in ids}


def decisions_on_topic(world: dict, ids: list[str]) -> Counter:
    """How many decisions each event id has on the decisions topic itself, read from the
    start by a fresh committed reader (the measure of exactly once)."""
    s = world["settings"]
    reader = EventReader(s.kafka, EventCodec(), [s.kafka.topics.decisions])
    counts: Counter = Counter()
    wanted = set(ids)
    for item, _ in reader.events(timeout=60, idle_timeout=10):
        if not isinstance(item, Exception) and item.record["event_id"] in wanted:
            counts[item.record["event_id"]] += 1
    reader.close()
    return counts
