"""The enroll slice never stops the worker: every request it cannot carry out becomes one dead
letter with a reason, and store outages are retried only briefly inside the open transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from confluent_kafka import Message

from examgate.adapters.kafka.clients import TRANSACTION_TIMEOUT_MS
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.matching import Analysis, LivenessModel, LivenessReading
from examgate.core.policy import Thresholds
from examgate.core.ports import ObjectStoreError, TemplateStoreError
from examgate.core.settings import Settings
from examgate.core.verify import Verifier
from stream_processors.enroll import agents as enroll
from stream_processors.runtime import Runtime
from stream_processors.verify import agents as verify

CODEC = EventCodec()
TOPIC = "enrollment.requests"
TRANSACTION_S = TRANSACTION_TIMEOUT_MS / 1000

LIVE = LivenessReading(0.95, 5, False)


class Stub:
    """Finds one face in any image; its embedding depends on the image's first byte."""

    def __init__(self, version: str = "1") -> None:
        self.model_version = version
        self.thresholds = Thresholds(0.5, 0.3)
        self.liveness_model = LivenessModel(0.8, 0.3)

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        emb = np.zeros(8, np.float32)
        emb[image[0] % 8] = 1.0
        return Analysis(1, {}, (), emb, None, liveness=LIVE)


class FakeTime:
    """A clock that only moves when slept on; sleeping past a transaction's timeout fails."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        if self.slept >= TRANSACTION_S:
            raise AssertionError(f"slept {self.slept:.1f} s inside one open transaction")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    fake = FakeTime()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    yield fake


def _runtime(analyzer: Stub | None = None, objects: MemoryObjectStore | None = None,
             key: bytes = b"k" * 32) -> Runtime:
    templates, objects = MemoryTemplateStore(), objects or MemoryObjectStore()
    verifier = Verifier(templates, objects, "frames", analyzer or Stub(), processor_id="w0")
    enroller = Enroller(templates, objects, Sealer(key), "enrollment", "frames")
    return Runtime(Settings(), CODEC, templates, objects, None, verifier, enroller, "w0")


_offsets = iter(range(1_000_000))


def _message(record: dict) -> Message:
    return Message(topic=TOPIC, partition=0, offset=next(_offsets),
                   key=record["student_id"].encode(), value=CODEC.encode("Enrollment", record))


def _request(action: str, student: str = "s-1", *photos: bytes) -> Message:
    return _message(events.enrollment(student_id=student, action=action,
                                      images=[events.inline_frame(p) for p in photos]))


def _dead_letter(outputs: list) -> dict:
    (out,) = outputs
    assert out.topic == TOPIC + ".dlq"
    return CODEC.decode(out.value, expected="DeadLetter").record


def _checkin_is_decided(rt: Runtime, student: str = "s-1") -> dict:
    record = events.checkin(gate_id="g-1", exam_id="e", claimed_student_id=student,
                            frame=events.inline_frame(b"\x01live"),
                            camera_meta=events.camera("c", 64, 64))
    msg = Message(topic="gate.checkins", partition=0, offset=1, key=b"g-1",
                  value=CODEC.encode("CheckIn", record))
    (out,) = verify.handle(rt, msg)
    assert out.topic == "gate.decisions"
    return CODEC.decode(out.value, expected="Decision").record


def test_add_over_a_photo_sealed_under_an_old_key_asks_for_replace() -> None:
    rt = _runtime(key=b"n" * 32)
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\x01old")) == []
    (stored,) = rt.objects.keys("enrollment", "students/s-1/")
    # As if enrolled before the template key was rotated: sealed under the old key.
    rt.objects.put("enrollment", stored, Sealer(b"k" * 32).seal(b"\x01old", stored))

    letter = _dead_letter(enroll.handle(rt, _request("ADD", "s-1", b"\x02new")))

    assert letter["reason_code"] == "PROCESSING_FAILED"
    assert "REPLACE" in letter["reason_detail"] and stored in letter["reason_detail"]
    assert rt.objects.keys("enrollment", "students/s-1/") == [stored]  # nothing touched
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\x02new")) == []  # the way out
    assert _checkin_is_decided(rt)["outcome"] in ("ACCEPT", "REJECT", "REVIEW")


def test_an_image_the_pipeline_chokes_on_is_a_dead_letter() -> None:
    class Choking(Stub):
        def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
            if image.startswith(b"\xff"):
                raise ValueError("alignment failed: degenerate landmarks")
            return super().analyse(image)

    rt = _runtime(Choking())
    letter = _dead_letter(enroll.handle(rt, _request("REPLACE", "s-1", b"\xffbad")))
    assert letter["reason_code"] == "INVALID_FIELD"
    assert "alignment failed" in letter["reason_detail"]
    # One bad photo among good ones is left out, as a photo without a face is.
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\xffbad", b"\x03good")) == []
    template = rt.templates.get("s-1", "1")
    assert template is not None and len(template.image_embeddings) == 1


def test_an_unexpected_failure_is_a_dead_letter_not_a_crash() -> None:
    class Inconsistent(Stub):
        # embeddings of two sizes: a model bug
        def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
            return Analysis(1, {}, (), np.ones(4 + len(image), np.float32), None)

    rt = _runtime(Inconsistent())
    letter = _dead_letter(enroll.handle(rt, _request("REPLACE", "s-1", b"\x01", b"\x01\x02")))
    assert letter["reason_code"] == "PROCESSING_FAILED"
    assert "ValueError" in letter["reason_detail"]


def test_template_store_outage_is_retried_briefly_then_dead_lettered(clock: FakeTime) -> None:
    rt = _runtime()
    rt.templates.fail = True  # type: ignore[attr-defined]
    msg = _request("REPLACE", "s-1", b"\x01a")

    letter = _dead_letter(enroll.handle(rt, msg))

    assert 0 < clock.slept <= TRANSACTION_S / 4
    assert letter["reason_code"] == "PROCESSING_FAILED"
    assert "replay" in letter["reason_detail"].lower()
    assert letter["payload"] == msg.value()  # nothing lost: the request rides along

    # The store stays down: the next record of the batch gives up at once, without sleeping.
    slept = clock.slept
    _dead_letter(enroll.handle(rt, _request("ADD", "s-2", b"\x01b")))
    assert clock.slept == slept


def test_after_an_outage_the_store_is_tried_again(clock: FakeTime) -> None:
    rt = _runtime()
    rt.templates.fail = True  # type: ignore[attr-defined]
    _dead_letter(enroll.handle(rt, _request("REPLACE", "s-1", b"\x01a")))
    rt.templates.fail = False  # type: ignore[attr-defined]
    clock.now += TRANSACTION_S  # a later transaction
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\x01a")) == []
    assert rt.templates.get("s-1", "1") is not None


class Flaky(MemoryObjectStore):
    """An object store that fails its next ``failures`` calls, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def _check(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ObjectStoreError("blip")
        super()._check()


def test_a_short_object_store_blip_is_ridden_out(clock: FakeTime) -> None:
    rt = _runtime(objects=Flaky(failures=2))
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\x01a")) == []
    assert rt.objects.keys("enrollment", "students/s-1/")
    assert rt.templates.get("s-1", "1") is not None
    assert clock.slept < 1.0


def test_object_store_outage_is_a_replayable_dead_letter(clock: FakeTime) -> None:
    rt = _runtime()
    rt.objects.fail = True  # type: ignore[attr-defined]
    letter = _dead_letter(enroll.handle(rt, _request("DELETE", "s-1")))
    assert letter["reason_code"] == "FRAME_UNAVAILABLE"
    assert "replay" in letter["reason_detail"].lower()
    assert clock.slept <= TRANSACTION_S / 4


def test_a_replayed_add_does_not_count_its_own_photos_twice(clock: FakeTime) -> None:
    rt = _runtime()
    assert enroll.handle(rt, _request("REPLACE", "s-1", b"\x01a")) == []
    add = _request("ADD", "s-1", b"\x02b")
    rt.templates.fail = True  # type: ignore[attr-defined]  # photos stored, templates not
    _dead_letter(enroll.handle(rt, add))
    rt.templates.fail = False  # type: ignore[attr-defined]
    clock.now += TRANSACTION_S

    assert enroll.handle(rt, add) == []  # the operator replays the dead letter

    template = rt.templates.get("s-1", "1")
    assert template is not None and len(template.image_embeddings) == 2


def test_a_missing_or_altered_image_is_the_requests_fault_not_an_outage(clock: FakeTime) -> None:
    rt = _runtime()
    photo = b"\x01photo"
    rt.objects.put("uploads", "p.jpg", b"\x01other")
    for ref in (events.object_ref("uploads", "gone.jpg", photo),
                events.object_ref("uploads", "p.jpg", photo)):
        msg = _message(events.enrollment(student_id="s-1", action="REPLACE", images=[ref]))
        letter = _dead_letter(enroll.handle(rt, msg))
        assert letter["reason_code"] == "FRAME_UNAVAILABLE"
        assert "REPLAYABLE" not in letter["reason_detail"]
    assert clock.slept == 0  # not retried, and the store is not presumed down:
    rt.objects.put("uploads", "p.jpg", photo)
    msg = _message(events.enrollment(student_id="s-1", action="REPLACE",
                                     images=[events.object_ref("uploads", "p.jpg", photo)]))
    assert enroll.handle(rt, msg) == []


class Flapping(MemoryTemplateStore):
    """A template store that answers only every sixth call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.calls % 6:
            raise TemplateStoreError("flap")


def test_a_whole_batch_against_a_flapping_store_waits_within_one_budget(clock: FakeTime) -> None:
    rt = _runtime()
    rt.enroller.templates = Flapping()
    batch = [_request("REPLACE", f"s-{i}", b"\x01a") for i in range(16)]  # one transaction
    outputs = [enroll.handle(rt, msg) for msg in batch]
    assert all(out == [] or _dead_letter(out) for out in outputs)
    assert clock.slept <= TRANSACTION_S / 5
