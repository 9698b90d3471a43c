"""A check-in is decided in a gate's name only if that gate signed it (issue 12, finding 8):
Kafka ACLs let each gate publish check-ins but cannot tie a record's gate_id to the user
that wrote it, so each gate signs what it publishes with its own Ed25519 key and the
processors hold the gates' public keys."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError
from test_verify import _checkin, world  # noqa: F401 - the fixture is used by name

from examgate.core.codec import EventCodec
from examgate.core.gate_signatures import SIGNATURE_HEADER, GateSignatures, signature_header
from examgate.core.settings import CheckInSettings
from examgate.core.signing import ModelSigner
from examgate.core.verify import Verifier

HALL_A = ModelSigner.from_base64(base64.b64encode(b"hall-a-01 gate key, 32 bytes ...").decode())
HALL_B = ModelSigner.from_base64(base64.b64encode(b"hall-b-07 gate key, 32 bytes ...").decode())
API = ModelSigner.from_base64(base64.b64encode(b"the HTTP API's key, 32 bytes ...").decode())
KEYS = {"hall-a-01": (HALL_A.public_key,), "hall-b-07": (HALL_B.public_key,),
        "kiosk-*": (API.public_key,)}
CODEC = EventCodec()


def _verifier(world, required: bool = False) -> Verifier:  # noqa: F811
    _, templates, objects, analyzer = world
    signatures = GateSignatures.from_settings(CheckInSettings(gate_keys=KEYS,
                                                              require_gate_signatures=required))
    return Verifier(templates, objects, "frames", analyzer, gate_signatures=signatures)


def _record(gate: str) -> tuple[dict, bytes]:
    record = _checkin(b"genuine")
    record["gate_id"] = gate
    return record, CODEC.encode("CheckIn", record)


def _decide(verifier: Verifier, record: dict, payload: bytes, header: bytes | None) -> dict:
    return verifier.verify(record, payload=payload, signature=header).decision


@pytest.mark.parametrize(("gate", "signer"), [("hall-a-01", HALL_A), ("hall-b-07", HALL_B),
                                              ("kiosk-3", API)])
def test_a_check_in_signed_by_its_own_gate_is_decided_as_usual(world, gate: str,  # noqa: F811
                                                               signer: ModelSigner) -> None:
    record, payload = _record(gate)
    d = _decide(_verifier(world), record, payload, signature_header(signer, payload))
    assert (d["outcome"], d["reason"]) == ("ACCEPT", "MATCH")


def test_another_gates_credential_cannot_check_in_in_this_gates_name(world) -> None:  # noqa: F811
    record, payload = _record("hall-a-01")
    d = _decide(_verifier(world), record, payload, signature_header(HALL_B, payload))
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT")
    assert "not signed by a key of gate hall-a-01" in d["reason_detail"]


@pytest.mark.parametrize(("header", "why"), [
    (None, "unsigned"),
    (b"not json", "malformed"),
    (json.dumps({"algorithm": "ed25519", "key_id": "x", "signature": "!!"}).encode(),
     "not signed by a key of gate hall-a-01"),
])
def test_unsigned_or_malformed_is_never_decided_on_the_face(world, header, why) -> None:  # noqa: F811
    record, payload = _record("hall-a-01")
    d = _decide(_verifier(world), record, payload, header)
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT") and why in d["reason_detail"]


def test_a_record_changed_after_signing_fails(world) -> None:  # noqa: F811
    record, payload = _record("hall-a-01")
    header = signature_header(HALL_A, payload)
    record["claimed_student_id"] = "bob"  # e.g. another student's name put in
    d = _decide(_verifier(world), record, CODEC.encode("CheckIn", record), header)
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT")


def test_gates_without_keys_are_decided_unless_signatures_are_required(world) -> None:  # noqa: F811
    record, payload = _record("hall-c-02")
    assert _decide(_verifier(world), record, payload, None)["outcome"] == "ACCEPT"
    d = _decide(_verifier(world, required=True), record, payload, None)
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT")
    assert "no key for gate hall-c-02" in d["reason_detail"]


def test_the_header_is_what_the_publisher_sends() -> None:
    payload = b"avro bytes"
    header = json.loads(signature_header(HALL_A, payload))
    assert header["algorithm"] == "ed25519" and SIGNATURE_HEADER == "examgate-gate-signature"


def test_a_bad_gate_key_fails_when_settings_load() -> None:
    with pytest.raises(ValidationError, match="key"):
        CheckInSettings(gate_keys={"hall-a-01": ("not-a-key",)})


def test_the_processor_finds_the_header_whatever_shape_kafka_gives() -> None:
    from examgate.core.gate_signatures import signature_in, signed_headers

    headers = signed_headers(HALL_A, b"x")
    assert headers is not None and signed_headers(None, b"x") is None
    value = headers[0][1]
    assert signature_in(headers) == value
    assert signature_in([("other", b"1"), (SIGNATURE_HEADER, str(value, "utf-8"))]) == value
    assert signature_in({SIGNATURE_HEADER: value}) == value
    assert signature_in(None) is None and signature_in([("other", b"1")]) is None


def test_a_forged_record_does_not_use_up_the_genuine_event_id(world) -> None:  # noqa: F811
    from examgate.adapters.templates import MemoryEventLedger

    _, templates, objects, analyzer = world
    verifier = Verifier(templates, objects, "frames", analyzer, events_seen=MemoryEventLedger(),
                        gate_signatures=GateSignatures(KEYS))
    record, payload = _record("hall-a-01")
    forged = verifier.verify(record, source="t[0]@1", payload=payload,
                             signature=signature_header(HALL_B, payload)).decision
    assert forged["reason"] == "INVALID_EVENT"
    # The gate's own record with the same event id, read after the forgery: decided.
    genuine = verifier.verify(record, source="t[0]@2", payload=payload,
                              signature=signature_header(HALL_A, payload)).decision
    assert (genuine["outcome"], genuine["reason"]) == ("ACCEPT", "MATCH")


def test_production_always_requires_gate_signatures() -> None:
    assert GateSignatures.from_settings(CheckInSettings()) is None  # a laptop: nothing checked
    production = GateSignatures.from_settings(CheckInSettings(), production=True)
    assert production is not None and production.required
    assert "no key for gate hall-a-99" in (production.problem("hall-a-99", b"x", None) or "")
    # A gate pattern of the timetable is not a key: an unlisted gate of a listed hall fails.
    keyed = GateSignatures.from_settings(CheckInSettings(gate_keys=KEYS), production=True)
    assert keyed is not None and keyed.problem("hall-a-99", b"x", None) is not None
