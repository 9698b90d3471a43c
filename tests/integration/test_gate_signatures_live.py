"""Gate signatures through the real stack (issue 12, finding 8): a worker that holds the
gates' public keys decides a check-in signed by its own gate as usual, and sends one
published under another gate's id with a different gate's credential to REVIEW."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator

import pytest
from streaming_world import decisions, enroll, make_world, people

from examgate.adapters.kafka import EventPublisher
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings
from examgate.core.signing import ModelSigner

pytestmark = [pytest.mark.integration, pytest.mark.lfw]
HALL_A = ModelSigner.from_base64(base64.b64encode(b"it-hall-a-key".ljust(32, b".")).decode())
HALL_B = ModelSigner.from_base64(base64.b64encode(b"it-hall-b-key".ljust(32, b".")).decode())


@pytest.fixture(scope="module")
def world(stack: Settings) -> Iterator[dict]:
    """A worker that knows the keys of gates it-hall-a and it-hall-b."""
    name = "EXAMGATE_CHECKIN__GATE_KEYS"
    saved = os.environ.get(name)
    os.environ[name] = json.dumps({"it-hall-a": [HALL_A.public_key],
                                   "it-hall-b": [HALL_B.public_key]})
    try:
        yield from make_world(stack, metrics_port=9475)
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _publish(world: dict, signer: ModelSigner | None, gate: str, student: str,
             frame: bytes) -> str:
    s = world["settings"]
    publisher = EventPublisher(s.kafka, EventCodec(), "it-signed-gate", signer=signer)
    record = events.checkin(gate_id=gate, exam_id="it", claimed_student_id=student,
                            frame=events.inline_frame(frame),
                            camera_meta=events.camera("cam", 250, 250))
    publisher.publish(s.kafka.topics.checkins, gate, "CheckIn", record)
    assert publisher.flush().ok
    return record["event_id"]


def test_only_a_gates_own_signature_lets_its_check_in_be_decided(world: dict) -> None:
    (name, imgs), = people(world["settings"], 1)
    enroll(world, name, imgs[0].read_bytes())
    probe = imgs[1].read_bytes()
    own = _publish(world, HALL_A, "it-hall-a", name, probe)
    forged = _publish(world, HALL_B, "it-hall-a", name, probe)  # hall B's credential
    unsigned = _publish(world, None, "it-hall-a", name, probe)
    got = decisions(world, [own, forged, unsigned])
    # A single frame at a gate not configured single-frame: REVIEW for liveness at best,
    # but decided on the face (a similarity), not refused as an invalid event.
    assert got[own]["reason"] != "INVALID_EVENT" and got[own]["similarity"] is not None
    for eid, why in ((forged, "not signed by a key of gate it-hall-a"),
                     (unsigned, "unsigned")):
        assert (got[eid]["outcome"], got[eid]["reason"]) == ("REVIEW", "INVALID_EVENT")
        assert why in got[eid]["reason_detail"]
        assert got[eid]["similarity"] is None
