"""The streaming path against the real stack: real processors, Kafka, Redis, MinIO and MLflow.

Each test session gets its own topics and consumer group (through EXAMGATE_*
variables that the worker processes inherit), so runs never see each other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from devstack import down, up
from streaming_world import (
    check_in,
    decisions,
    decisions_on_topic,
    enroll,
    live_burst,
    make_world,
    people,
)

from examgate.adapters.factory import template_store
from examgate.adapters.kafka import EventReader
from examgate.adapters.kafka.clients import TRANSACTION_TIMEOUT_MS
from examgate.adapters.templates import RedisTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings
from examgate.models.analyzer import load_analyzer as analyzer
from simulator.driver import Workers

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """A processor worker on this module's own topics, the champion registered."""
    yield from make_world(stack, metrics_port=9470)


def test_decisions_with_reasons(world: dict) -> None:
    (alice, alice_imgs), (bob, bob_imgs) = people(world["settings"], 2)
    sid = f"{alice}-{uuid.uuid4().hex[:6]}"
    alice_photo = alice_imgs[0].read_bytes()
    enroll(world, sid, alice_photo)
    blank = np.full((250, 250, 3), 128, np.uint8)
    import cv2

    genuine = live_burst(alice_imgs[1].read_bytes())
    impostor = live_burst(bob_imgs[0].read_bytes())
    bursts = {"genuine": genuine[1:], "impostor": impostor[1:]}
    cases = {
        "genuine": (sid, genuine[0], "ACCEPT", "MATCH"),
        "impostor": (sid, impostor[0], "REJECT", "NO_MATCH"),
        "one_frame": (sid, genuine[0], "REVIEW", "LIVENESS_UNCERTAIN"),  # no burst
        "unenrolled": (f"nobody-{uuid.uuid4().hex[:6]}", bob_imgs[1].read_bytes(), "REVIEW",
                       "NOT_ENROLLED"),
        "no_face": (sid, cv2.imencode(".jpg", blank)[1].tobytes(), "REVIEW", "NO_FACE"),
        "replay": (sid, alice_photo, "REJECT", "REPLAY_SUSPECTED"),
        "not_an_image": (sid, b"this is not a jpeg", "REVIEW", "NO_FACE"),
    }
    ids = {name: check_in(world, claim, frame, extra=bursts.get(name))
           for name, (claim, frame, _, _) in cases.items()}
    got = decisions(world, list(ids.values()))
    for name, (_, _, outcome, reason) in cases.items():
        d = got[ids[name]]
        assert (d["outcome"], d["reason"]) == (outcome, reason), (name, d["reason_detail"])
    assert got[ids["genuine"]]["model_version"] == world["version"]
    assert set(got[ids["genuine"]]["latency_ms"]) >= {"detect", "embed", "template_fetch",
                                                      "liveness"}
    live = got[ids["genuine"]]["liveness"]
    assert live["verdict"] == "LIVE" and live["frames"] == 5 and live["models"]
    assert got[ids["one_frame"]]["liveness"]["single_frame"]
    assert got[ids["no_face"]]["review_frame"] is not None


def test_a_face_also_enrolled_under_another_id_goes_to_a_proctor(world: dict) -> None:
    """The cohort check in the running worker: a template stored after the worker started,
    on nobody's look-alike list, is held against every check-in (the worker's copy of the
    cohort follows Redis's change counter), and an erasure lifts it again."""
    import dataclasses

    (alice, imgs), = people(world["settings"], 1)
    s, version = world["settings"], world["version"]
    sid, twin = f"{alice}-{uuid.uuid4().hex[:6]}", f"twin-{uuid.uuid4().hex[:6]}"
    enroll(world, sid, imgs[0].read_bytes())
    burst = live_burst(imgs[1].read_bytes())

    def decide(expected: str) -> dict:
        """Check in until ``expected`` comes (the worker reads the cohort again no sooner
        than 10x its last read took: examgate.core.cohort.READ_SHARE), 20 s at most."""
        end = time.monotonic() + 20
        while True:
            d = next(iter(decisions(world, [check_in(world, sid, burst[0], extra=burst[1:])]
                                    ).values()))
            if d["outcome"] == expected or time.monotonic() > end:
                return d
            time.sleep(0.5)

    assert decide("ACCEPT")["outcome"] == "ACCEPT"
    # The same face enrolled under another id, with photos the look-alike lists missed.
    enroll(world, twin, imgs[1].read_bytes())
    store = template_store(s)
    for student in (sid, twin):
        template = store.get(student, version)
        assert template is not None
        store.put(dataclasses.replace(template, lookalikes=()))
    d = decide("REVIEW")
    assert (d["outcome"], d["reason"]) == ("REVIEW", "LOOKALIKE"), d["reason_detail"]
    assert twin in d["reason_detail"] and "did not look alike" in d["reason_detail"]
    world["publisher"].publish(s.kafka.topics.enrollments, twin, "Enrollment",
                               events.enrollment(student_id=twin, action="DELETE"))
    world["publisher"].flush()
    end = time.monotonic() + 60
    while store.get(twin, version) is not None:
        assert time.monotonic() < end, "template still there after DELETE"
        time.sleep(0.2)
    assert decide("ACCEPT")["outcome"] == "ACCEPT"


def test_metrics_and_review_retention(world: dict) -> None:
    import urllib.request

    from examgate.adapters.objectstore import minio_client

    body = urllib.request.urlopen("http://127.0.0.1:9470/metrics", timeout=10).read().decode()
    for name in ("examgate_decisions_total", "examgate_stage_latency_seconds",
                 "examgate_consumer_lag", "examgate_dead_letters_total"):
        assert name in body
    s = world["settings"]
    rules = minio_client(s.object_store).get_bucket_lifecycle(s.object_store.bucket_frames)
    by_prefix = {r.rule_filter.prefix: r.expiration.days for r in rules.rules}
    assert by_prefix["review/"] == s.object_store.review_retention_days
    # Frames that gates upload by reference are needed only until decided (review finding 6).
    assert by_prefix["incoming/"] == s.object_store.gate_upload_retention_days


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
    (carol, imgs), = people(world["settings"], 3)[2:3]
    sid = f"{carol}-{uuid.uuid4().hex[:6]}"
    enroll(world, sid, imgs[0].read_bytes())
    probe = imgs[1].read_bytes()
    ids = [check_in(world, sid, probe, gate=f"gate-{i % 6}") for i in range(120)]
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
    decisions(world, ids, timeout=180)
    counts = decisions_on_topic(world, ids)
    wanted = set(ids)
    assert set(counts) == wanted, f"{len(wanted - set(counts))} event(s) lost"
    assert max(counts.values()) == 1, f"duplicates: {[k for k, v in counts.items() if v > 1][:5]}"


def _redis_answers(s: Settings) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(s.redis.url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _back_up(s: Settings, service: str) -> None:
    """Start ``service`` again, then wait out the enroll worker's "presumed down" window.

    An enroll worker that gave up on a store (a record in flight when it stopped) presumes
    it down for one transaction timeout and dead-letters enrollments meanwhile, as
    REPLAYABLE (by design); the next test's enrollment must not land in that window (CI
    once saw it dead-lettered there, and the test waited for it in vain).
    """
    up(s, [service])
    time.sleep(TRANSACTION_TIMEOUT_MS / 1000 + 1)


def test_redis_down_never_accepts(world: dict) -> None:
    (dave, imgs), = people(world["settings"], 4)[3:4]
    sid = f"{dave}-{uuid.uuid4().hex[:6]}"
    enroll(world, sid, imgs[0].read_bytes())
    s = world["settings"]
    down(s, ["redis"])
    if _redis_answers(s):
        up(s, ["redis"])
        pytest.skip("Redis is running but was not started by this stack: cannot stop it")
    try:
        ids = [check_in(world, sid, imgs[1].read_bytes()) for _ in range(5)]
        got = decisions(world, ids)
    finally:
        _back_up(s, "redis")
    assert all(d["outcome"] != "ACCEPT" for d in got.values())
    assert {d["reason"] for d in got.values()} == {"TEMPLATE_UNAVAILABLE"}


def test_object_store_down_decides_without_accepting(world: dict) -> None:
    """MinIO stopped (review finding 2): each check-in still gets a decision, soon, and none
    is ACCEPT: frames by reference cannot be read, and a REVIEW cannot keep its frame."""
    from examgate.adapters.objectstore import S3ObjectStore

    (erin, imgs), (_, other) = people(world["settings"], 6)[4:6]
    sid = f"{erin}-{uuid.uuid4().hex[:6]}"
    enroll(world, sid, imgs[0].read_bytes())
    s = world["settings"]
    store = S3ObjectStore.from_settings(s.object_store)
    frame = imgs[1].read_bytes()
    key = f"incoming/gate-it/{uuid.uuid4().hex}"
    store.put(s.object_store.bucket_frames, key, frame, "image/jpeg")
    down(s, ["object_store"])
    try:
        by_ref = events.checkin(gate_id="gate-it", exam_id="it", claimed_student_id=sid,
                                frame=events.object_ref(s.object_store.bucket_frames, key,
                                                        frame),
                                camera_meta=events.camera("cam", 250, 250))
        world["publisher"].publish(s.kafka.topics.checkins, "gate-it", "CheckIn", by_ref)
        genuine = [check_in(world, sid, imgs[2].read_bytes()) for _ in range(2)]
        impostor = [check_in(world, sid, other[0].read_bytes()) for _ in range(2)]
        began = time.monotonic()
        got = decisions(world, [by_ref["event_id"], *genuine, *impostor], timeout=60)
        took = time.monotonic() - began
    finally:
        _back_up(s, "object_store")
    assert got[by_ref["event_id"]]["outcome"] == "REVIEW"
    assert got[by_ref["event_id"]]["reason"] == "FRAME_UNAVAILABLE"
    assert all(got[i]["outcome"] != "ACCEPT" for i in impostor)
    # Inline frames need no object store: decided as usual, a REVIEW without a kept frame.
    assert all(got[i]["outcome"] in ("ACCEPT", "REVIEW") for i in genuine)
    assert took < 30, f"decisions took {took:.0f} s with the object store down"


def test_deleted_student_leaves_nothing_behind(world: dict) -> None:
    import redis

    from examgate.adapters.objectstore import S3ObjectStore

    (erin, imgs), (_, other) = people(world["settings"], 6)[4:6]
    sid = f"{erin}-{uuid.uuid4().hex[:6]}"
    s = world["settings"]
    enroll(world, sid, imgs[0].read_bytes())
    # A REVIEW keeps the frame for the console: it must go too.
    review = decisions(world, [check_in(world, sid, b"not an image")])
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

    (frank, imgs), = people(world["settings"], 6)[5:6]
    sid = f"{frank}-{uuid.uuid4().hex[:6]}"
    s = world["settings"]
    photo = imgs[0].read_bytes()
    enroll(world, sid, photo)
    raw = redis.Redis.from_url(s.redis.url).get(
        f"{RedisTemplateStore.PREFIX}:{world['version']}:{sid}")
    assert raw is not None
    emb = analyzer(s, world["version"]).analyse(photo).embedding
    assert emb is not None
    assert emb.astype(np.float32).tobytes()[:16] not in raw
    assert b"image_embeddings" not in raw and b"PK" not in raw[:2]  # no npz/zip header
    template = template_store(s).get(sid, world["version"])
    assert template is not None and float(template.embedding @ emb) > 0.99
