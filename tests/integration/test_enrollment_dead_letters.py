"""Enrollment failures against the real stack: a request the enroll slice cannot carry out is one
dead letter, and the same worker goes on deciding check-ins (it runs verify and enroll)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from streaming_world import check_in, decisions, enroll, make_world, people

from examgate.adapters.kafka import EventReader
from examgate.adapters.objectstore import S3ObjectStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """One processor worker (verify and enroll) on this module's own topics."""
    yield from make_world(stack, metrics_port=9495)


def _enrollment_dead_letters(settings: Settings, students: set[bytes],
                             timeout: float = 90) -> dict[bytes, list[dict]]:
    """The dead letters of the enrollment topic, by student, once each student has one (and
    nothing more arrived for a few seconds)."""
    dlq = settings.kafka.topics.enrollments + settings.kafka.topics.dlq_suffix
    reader = EventReader(settings.kafka, EventCodec(), [dlq])
    found: dict[bytes, list[dict]] = {}
    try:
        settled = None
        for item, _ in reader.events(timeout=timeout):
            if not isinstance(item, Exception) and item.record["key"] in students:
                found.setdefault(item.record["key"], []).append(item.record)
            if settled is None and set(found) == students:
                settled = time.monotonic() + 5  # room for a duplicate to show up
            if settled is not None and time.monotonic() > settled:
                break
    finally:
        reader.close()
    return found


def test_failed_enrollments_are_dead_letters_and_check_ins_go_on(world: dict) -> None:
    s = world["settings"]
    (name, photos), = people(s, 1)
    student = f"{name}-{uuid.uuid4().hex[:6]}"
    enroll(world, student, photos[0].read_bytes())
    objects = S3ObjectStore.from_settings(s.object_store)
    bucket = s.object_store.bucket_enrollment
    (key,) = objects.keys(bucket, f"students/{student}/")
    # As if enrolled before the template key was rotated: sealed under another key.
    objects.put(bucket, key, Sealer(os.urandom(32)).seal(photos[0].read_bytes(), key))
    worker = world["workers"].procs[0]

    stranger = f"bad-image-{uuid.uuid4().hex[:6]}"
    for sid, action, image in ((student, "ADD", photos[1].read_bytes()),
                               (stranger, "REPLACE", b"this is not a photo")):
        world["publisher"].publish(s.kafka.topics.enrollments, sid, "Enrollment",
                                   events.enrollment(student_id=sid, action=action,
                                                     images=[events.inline_frame(image)]))
    world["publisher"].flush()

    letters = _enrollment_dead_letters(s, {student.encode(), stranger.encode()})
    (unreadable,) = letters.get(student.encode(), [])
    assert (unreadable["reason_code"], unreadable["stage"]) == ("PROCESSING_FAILED", "enroll")
    assert "REPLACE" in unreadable["reason_detail"] and key in unreadable["reason_detail"]
    (bad_image,) = letters.get(stranger.encode(), [])
    assert bad_image["reason_code"] == "INVALID_FIELD"
    assert "NO_USABLE_IMAGE" in bad_image["reason_detail"]
    assert objects.keys(bucket, f"students/{student}/") == [key]  # the ADD changed nothing

    (decision,) = decisions(world, [check_in(world, student, photos[2].read_bytes())]).values()
    assert decision["processor_id"] == "w0"
    assert worker.poll() is None and world["workers"].procs == [worker]  # never restarted
