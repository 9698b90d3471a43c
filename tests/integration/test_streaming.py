"""The streaming path against the real stack: real processors, Kafka, Redis, MinIO and MLflow.

Each test session gets its own topics and consumer group (through EXAMGATE_*
variables that the worker processes inherit), so runs never see each other.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from examgate import events
from examgate.codec import EventCodec
from examgate.harness import DecisionCollector, Workers, template_store, wait_for_group
from examgate.kafka import EventPublisher, EventReader, ensure_topics
from examgate.settings import Settings, load_settings
from examgate.stack import down, up
from examgate.templates import RedisTemplateStore

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """A processor worker on this session's own topics, the champion registered."""
    from examgate.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    run = uuid.uuid4().hex[:8]
    env = {f"EXAMGATE_KAFKA__TOPICS__{k.upper()}": f"it{run}.{k}"
           for k in ("checkins", "decisions", "enrollments", "feedback", "model_events")}
    env["EXAMGATE_KAFKA__PROCESSOR_GROUP"] = f"it{run}-processors"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    ensure_topics(settings.kafka, settings.kafka.topics.all_topics(),
                  settings.kafka.topics.partitions)
    version = bootstrap(settings)
    collector = DecisionCollector(settings, EventCodec())
    collector.start()
    assert collector.ready.wait(60), "decision reader not assigned"
    workers = Workers(settings, 1, settings.stack.state_dir / "logs" / f"it{run}",
                      first_metrics_port=9470)
    with workers:
        wait_for_group(settings, 1)
        yield {"settings": settings, "version": version, "collector": collector,
               "workers": workers, "publisher": EventPublisher(settings.kafka, EventCodec(),
                                                               "it")}
    collector.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _people(settings: Settings, n: int) -> list[tuple[str, list[Path]]]:
    """LFW people with three or more photos, outside the calibration split."""
    from examgate.bootstrap import calibration_identities
    from examgate.datasets.lfw import people as lfw_people

    excluded = calibration_identities(settings.data.lfw_dir)
    people = lfw_people(settings.data.lfw_dir)
    chosen = [(name, [Path(p) for p in imgs]) for name, imgs in sorted(people.items())
              if len(imgs) >= 3 and name not in excluded]
    return chosen[:n]


def _enroll(world: dict, student: str, photo: bytes, timeout: float = 60) -> None:
    s = world["settings"]
    record = events.enrollment(student_id=student, action="REPLACE",
                               images=[events.inline_frame(photo)])
    world["publisher"].publish(s.kafka.topics.enrollments, student, "Enrollment", record)
    world["publisher"].flush()
    store = template_store(s)
    end = time.monotonic() + timeout
    while store.get(student, world["version"]) is None:
        assert time.monotonic() < end, f"{student} was not enrolled in {timeout} s"
        time.sleep(0.2)


def _check_in(world: dict, student: str, frame: bytes, gate: str = "gate-it") -> str:
    s = world["settings"]
    record = events.checkin(gate_id=gate, exam_id="it", claimed_student_id=student,
                            frame=events.inline_frame(frame),
                            camera_meta=events.camera("cam", 250, 250))
    world["publisher"].publish(s.kafka.topics.checkins, gate, "CheckIn", record)
    return record["event_id"]


def _decisions(world: dict, ids: list[str], timeout: float = 90) -> dict[str, dict]:
    world["publisher"].flush()
    missing = world["collector"].wait_for(ids, timeout)
    assert not missing, f"{len(missing)} check-in(s) got no decision"
    return {i: world["collector"].decisions[i][0] for i in ids}


def test_decisions_with_reasons(world: dict) -> None:
    (alice, alice_imgs), (bob, bob_imgs) = _people(world["settings"], 2)
    sid = f"{alice}-{uuid.uuid4().hex[:6]}"
    alice_photo = alice_imgs[0].read_bytes()
    _enroll(world, sid, alice_photo)
    blank = np.full((250, 250, 3), 128, np.uint8)
    import cv2

    cases = {
        "genuine": (sid, alice_imgs[1].read_bytes(), "ACCEPT", "MATCH"),
        "impostor": (sid, bob_imgs[0].read_bytes(), "REJECT", "NO_MATCH"),
        "unenrolled": (f"nobody-{uuid.uuid4().hex[:6]}", bob_imgs[1].read_bytes(), "REVIEW",
                       "NOT_ENROLLED"),
        "no_face": (sid, cv2.imencode(".jpg", blank)[1].tobytes(), "REVIEW", "NO_FACE"),
        "replay": (sid, alice_photo, "REJECT", "REPLAY_SUSPECTED"),
        "not_an_image": (sid, b"this is not a jpeg", "REVIEW", "NO_FACE"),
    }
    ids = {name: _check_in(world, claim, frame) for name, (claim, frame, _, _) in cases.items()}
    got = _decisions(world, list(ids.values()))
    for name, (_, _, outcome, reason) in cases.items():
        d = got[ids[name]]
        assert (d["outcome"], d["reason"]) == (outcome, reason), (name, d["reason_detail"])
    assert got[ids["genuine"]]["model_version"] == world["version"]
    assert set(got[ids["genuine"]]["latency_ms"]) >= {"detect", "embed", "template_fetch"}
    assert got[ids["no_face"]]["review_frame"] is not None


def test_metrics_and_review_retention(world: dict) -> None:
    import urllib.request

    from examgate.stack.object_store import minio_client

    body = urllib.request.urlopen("http://127.0.0.1:9470/metrics", timeout=10).read().decode()
    for name in ("examgate_decisions_total", "examgate_stage_latency_seconds",
                 "examgate_consumer_lag", "examgate_dead_letters_total"):
        assert name in body
    s = world["settings"]
    rules = minio_client(s.object_store).get_bucket_lifecycle(s.object_store.bucket_frames)
    assert any(r.expiration.days == s.object_store.review_retention_days for r in rules.rules)


def test_corrupt_event_goes_to_dead_letters(world: dict) -> None:
    s = world["settings"]
    dlq = s.kafka.topics.checkins + s.kafka.topics.dlq_suffix
    reader = EventReader(s.kafka, EventCodec(), [dlq])
    garbage = b"\x00\x01 definitely not avro " + uuid.uuid4().bytes
    world["publisher"].publish_raw(s.kafka.topics.checkins, "gate-it", garbage)
    world["publisher"].flush()
    found = None
    for item, _ in reader.events(timeout=60):
        if not isinstance(item, Exception) and item.record["payload"] == garbage:
            found = item.record
            break
    reader.close()
    assert found is not None, "no dead-letter record for the corrupt event"
    assert found["reason_code"] == "UNDECODABLE"
    assert found["source_topic"] == s.kafka.topics.checkins


def test_sigkill_mid_stream_decides_each_event_exactly_once(world: dict) -> None:
    (carol, imgs), = _people(world["settings"], 3)[2:3]
    sid = f"{carol}-{uuid.uuid4().hex[:6]}"
    _enroll(world, sid, imgs[0].read_bytes())
    probe = imgs[1].read_bytes()
    ids = [_check_in(world, sid, probe, gate=f"gate-{i % 6}") for i in range(120)]
    world["publisher"].flush()
    collector = world["collector"]
    end = time.monotonic() + 60
    while sum(i in collector.decisions for i in ids) < 20:
        assert time.monotonic() < end, "the worker made no progress"
        time.sleep(0.05)
    workers: Workers = world["workers"]
    victim = workers.procs[0]
    victim.kill()  # SIGKILL: no shutdown, an open transaction is left behind
    victim.wait()
    workers.procs.remove(victim)
    workers.start_one(0)  # same worker id: it fences the dead one's open transaction
    _decisions(world, ids, timeout=180)
    # Count on the topic itself, from the beginning, with a fresh committed reader.
    s = world["settings"]
    reader = EventReader(s.kafka, EventCodec(), [s.kafka.topics.decisions])
    counts: Counter = Counter()
    wanted = set(ids)
    for item, _ in reader.events(timeout=60, idle_timeout=10):
        if not isinstance(item, Exception) and item.record["event_id"] in wanted:
            counts[item.record["event_id"]] += 1
    reader.close()
    assert set(counts) == wanted, f"{len(wanted - set(counts))} event(s) lost"
    assert max(counts.values()) == 1, f"duplicates: {[k for k, v in counts.items() if v > 1][:5]}"


def _redis_answers(s: Settings) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(s.redis.url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_redis_down_never_accepts(world: dict) -> None:
    (dave, imgs), = _people(world["settings"], 4)[3:4]
    sid = f"{dave}-{uuid.uuid4().hex[:6]}"
    _enroll(world, sid, imgs[0].read_bytes())
    s = world["settings"]
    down(s, ["redis"])
    if _redis_answers(s):
        up(s, ["redis"])
        pytest.skip("Redis is running but was not started by this stack: cannot stop it")
    try:
        ids = [_check_in(world, sid, imgs[1].read_bytes()) for _ in range(5)]
        got = _decisions(world, ids)
    finally:
        up(s, ["redis"])
    assert all(d["outcome"] != "ACCEPT" for d in got.values())
    assert {d["reason"] for d in got.values()} == {"TEMPLATE_UNAVAILABLE"}


def test_deleted_student_leaves_nothing_behind(world: dict) -> None:
    import redis

    from examgate.objectstore import S3ObjectStore

    (erin, imgs), = _people(world["settings"], 5)[4:5]
    sid = f"{erin}-{uuid.uuid4().hex[:6]}"
    s = world["settings"]
    _enroll(world, sid, imgs[0].read_bytes())
    # A REVIEW keeps the frame for the console: it must go too.
    review = _decisions(world, [_check_in(world, sid, b"not an image")])
    assert next(iter(review.values()))["review_frame"] is not None
    objects = S3ObjectStore.from_settings(s.object_store)
    assert objects.keys(s.object_store.bucket_enrollment, f"students/{sid}/")
    world["publisher"].publish(s.kafka.topics.enrollments, sid, "Enrollment",
                               events.enrollment(student_id=sid, action="DELETE"))
    world["publisher"].flush()
    store = template_store(s)
    end = time.monotonic() + 60
    while store.get(sid, world["version"]) is not None:
        assert time.monotonic() < end, "template still there after DELETE"
        time.sleep(0.2)
    time.sleep(0.5)
    assert objects.keys(s.object_store.bucket_enrollment, f"students/{sid}/") == []
    assert objects.keys(s.object_store.bucket_frames, f"review/{sid}/") == []
    client = redis.Redis.from_url(s.redis.url)
    assert [k for k in client.scan_iter(match=f"*{sid}*")] == []
    assert sid not in store.students(world["version"])


def test_redis_holds_no_plaintext_embedding(world: dict) -> None:
    import redis

    from examgate.analyzer import analyzer_from_bundle
    from examgate.registry import ModelRegistry

    (frank, imgs), = _people(world["settings"], 6)[5:6]
    sid = f"{frank}-{uuid.uuid4().hex[:6]}"
    s = world["settings"]
    photo = imgs[0].read_bytes()
    _enroll(world, sid, photo)
    raw = redis.Redis.from_url(s.redis.url).get(
        f"{RedisTemplateStore.PREFIX}:{world['version']}:{sid}")
    assert raw is not None
    registry = ModelRegistry(s.mlflow.tracking_uri, s.mlflow.registered_model,
                             s.stack.cache_dir / "models")
    emb = analyzer_from_bundle(registry.load(world["version"]), s).analyse(photo).embedding
    assert emb is not None
    assert emb.astype(np.float32).tobytes()[:16] not in raw
    assert b"image_embeddings" not in raw and b"PK" not in raw[:2]  # no npz/zip header
    template = template_store(s).get(sid, world["version"])
    assert template is not None and float(template.embedding @ emb) > 0.99
