"""POST /v1/checkins and GET /v1/decisions: a kiosk's whole conversation, and every refusal
with its status and reason code (issue 14)."""

from __future__ import annotations

import struct
import time
import zlib

import cv2
import numpy as np
from api_world import KIOSK, REGISTRAR

from http_api.app import ApiContext, create_app
from http_api.settings import ApiSettings

RNG = np.random.default_rng(3)


def jpeg(seed: int = 0, side: int = 64) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (side, side, 3)).astype(np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


def post(client, token: str | None = KIOSK, frames: list[bytes] | None = None,
         **fields: str):
    data = {"student_id": "s-1", "gate_id": "hall-a-1", "exam_id": "MATH101-2026W", **fields}
    files = [("frame", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(
        frames if frames is not None else [jpeg()])]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/v1/checkins", data=data, files=files, headers=headers)


def test_a_kiosk_checks_a_student_in_and_gets_the_processors_decision(world) -> None:
    frames = [jpeg(1), jpeg(2), jpeg(3)]
    r = post(world["client"], frames=frames)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["reason"], body["model_version"]) == ("ACCEPT", "MATCH", "1")
    assert "review_frame" not in body  # where frames are stored is not the kiosk's business
    (record,) = world["broker"].published
    assert body["event_id"] == record["event_id"]
    assert (record["gate_id"], record["exam_id"], record["claimed_student_id"]) == \
        ("hall-a-1", "MATH101-2026W", "s-1")
    assert record["frame"]["data"] == frames[0]
    assert [f["data"] for f in record["extra_frames"]] == frames[1:]
    assert (record["camera"]["camera_id"], record["camera"]["source"]) == \
        ("api:kiosk-a", "api")

    assert "second_look" not in body  # nothing to retry


def test_a_still_face_is_told_to_turn_and_send_a_second_look(world) -> None:
    broker = world["broker"]
    broker.outcome = lambda _r: ("REVIEW", "LIVENESS_UNCERTAIN")
    broker.liveness = {"verdict": "UNCERTAIN", "score": 0.43, "fired": [],
                       "why": "too little motion"}
    body = post(world["client"], frames=[jpeg(1), jpeg(2)]).json()
    assert body["second_look"]["why"] == "too little motion"
    assert "turn your head" in body["second_look"]["prompt"]
    broker.liveness = {"verdict": "UNCERTAIN", "score": 0.3, "fired": ["edges"],
                       "why": "fired: edges"}
    assert "second_look" not in post(world["client"], frames=[jpeg(1), jpeg(2)]).json()


def test_a_slow_decision_is_202_then_fetched_from_any_replica(world) -> None:
    world["broker"].delay_s = 1.0  # longer than the 0.5 s the settings wait
    r = post(world["client"])
    assert r.status_code == 202 and r.json()["status"] == "pending"
    poll = r.json()["poll"]
    assert world["client"].get(poll, headers={"Authorization": f"Bearer {KIOSK}"}
                               ).status_code == 404
    time.sleep(1.0)
    later = world["client"].get(poll, headers={"Authorization": f"Bearer {KIOSK}"})
    assert later.status_code == 200 and later.json()["outcome"] == "ACCEPT"


def test_a_decision_of_another_exam_reads_as_unknown(world) -> None:
    r = post(world["client"], token=REGISTRAR, gate_id="hall-b-1", exam_id="PHYS200")
    assert r.status_code == 200
    other = world["client"].get(f"/v1/decisions/{r.json()['event_id']}",
                                headers={"Authorization": f"Bearer {KIOSK}"})
    assert (other.status_code, other.json()["error"]) == (404, "UNKNOWN_EVENT")


def _refused(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == code


def test_who_may_not_call_is_told_why_and_nothing_is_published(world) -> None:
    c = world["client"]
    _refused(post(c, token=None), 401, "UNAUTHENTICATED")
    _refused(post(c, token="a-wrong-token-0123456789"), 401, "UNAUTHENTICATED")
    _refused(post(c, token="revoked-token-0123456789"), 401, "UNAUTHENTICATED")
    _refused(post(c, exam_id="PHYS200"), 403, "NOT_IN_SCOPE")
    _refused(post(c, gate_id="hall-b-1"), 403, "NOT_IN_SCOPE")
    assert world["broker"].published == []


def test_bad_input_is_a_4xx_with_a_reason_never_a_500(world) -> None:
    c = world["client"]
    _refused(post(c, frames=[b"this is not a JPEG"]), 422, "NOT_AN_IMAGE")
    _refused(post(c, frames=[png_header(60_000, 60_000)]), 422, "IMAGE_TOO_LARGE")
    _refused(post(c, frames=[jpeg(), b"\xff\xd8\xff garbage"]), 422, "NOT_AN_IMAGE")
    _refused(post(c, frames=[jpeg()] * 10), 422, "TOO_MANY_FRAMES")
    _refused(post(c, student_id="s 1; DROP"), 422, "INVALID_FIELD")
    _refused(c.post("/v1/checkins", data={"gate_id": "hall-a-1"},
                    headers={"Authorization": f"Bearer {KIOSK}"}), 422, "INVALID_FIELD")
    assert world["broker"].published == []


def test_a_request_over_the_size_limit_is_refused_before_it_is_read(world) -> None:
    small = ApiSettings(tokens=world["ctx"].settings.tokens, max_request_bytes=2048)
    ctx = ApiContext(small, world["broker"], world["index"], lambda: None, lambda: None,
                     world["templates"])
    from fastapi.testclient import TestClient

    with TestClient(create_app(ctx)) as client:
        _refused(post(client, frames=[jpeg(side=256)]), 413, "TOO_LARGE")
    assert world["broker"].published == []


def test_a_client_over_its_rate_is_asked_to_wait(world) -> None:
    limited = ApiSettings(tokens=world["ctx"].settings.tokens, rate_per_s=0.5, rate_burst=2)
    ctx = ApiContext(limited, world["broker"], world["index"], lambda: None, lambda: None,
                     world["templates"])
    from fastapi.testclient import TestClient

    with TestClient(create_app(ctx)) as client:
        assert [post(client).status_code for _ in range(2)] == [200, 200]
        r = post(client)
        _refused(r, 429, "RATE_LIMITED")
        assert int(r.headers["Retry-After"]) >= 1


def test_a_broker_outage_is_a_503_to_retry_not_a_lost_check_in(world) -> None:
    world["broker"].down = True
    _refused(post(world["client"]), 503, "KAFKA_UNAVAILABLE")


def test_health_readiness_metrics_and_openapi(world) -> None:
    c = world["client"]
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").status_code == 200
    post(c)
    assert "examgate_api_requests_total" in c.get("/metrics/").text
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/v1/checkins", "/v1/decisions/{event_id}", "/v1/compare",
            "/v1/students/{student_id}/enrollment"} <= set(paths)


def test_a_client_may_have_a_rate_of_its_own() -> None:
    from http_api.guard import RateLimiter

    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=1, clock=lambda: now[0])
    assert limiter.take("kiosk") == 0 and limiter.take("kiosk") > 0
    assert [limiter.take("registrar", rate=10, burst=5) for _ in range(6)][-1] > 0
    now[0] += 0.5  # half a second: 5 more for the registrar, not yet one for the kiosk
    assert limiter.take("registrar", rate=10, burst=5) == 0 and limiter.take("kiosk") > 0
