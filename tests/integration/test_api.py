"""The HTTP API against the real stack: a kiosk's curl script checks a student in through
Kafka and gets the processors' decision; compare and enrollment status (issue 14)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streaming_world import decisions_on_topic, enroll, live_burst, make_world, people

from examgate.core.settings import Settings
from http_api.settings import ApiClient, ApiSettings, token_hash

pytestmark = [pytest.mark.integration]
TOKEN = "kiosk-token-for-the-integration-test"
SLOW = "a-second-kiosk-to-trip-its-rate-limit"

# The README's kiosk script, word for word (tests/integration/test_api.py runs it).
KIOSK_SCRIPT = r"""
#!/bin/sh
# check_in.sh STUDENT_ID PHOTO [BURST_FRAMES...]: one student at this kiosk's gate.
API=${EXAMGATE_API:-https://examgate.example.edu}
STUDENT=$1; shift
set -- $(for f in "$@"; do printf -- '-F frame=@%s ' "$f"; done)
curl -sS --fail-with-body -H "Authorization: Bearer $KIOSK_TOKEN" \
  -F student_id="$STUDENT" -F gate_id="$GATE_ID" -F exam_id="$EXAM_ID" "$@" \
  "$API/v1/checkins"
# 200: {"outcome": "ACCEPT|REVIEW|REJECT", "reason": ..., ...}
# 202: {"event_id": ..., "poll": "/v1/decisions/<id>"}: ask again in a moment
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def api(stack: Settings) -> Iterator[dict]:
    """A processor worker on this module's topics and the API in this process, in front."""
    import uvicorn

    from http_api.app import create_app
    from http_api.wiring import build_context

    for world in make_world(stack, metrics_port=9491):
        settings = ApiSettings(tokens=(
            ApiClient(id="kiosk-it", token_sha256=token_hash(TOKEN), exams=("it-*",),
                      gates=("gate-*",), compare=True, enrollment_status=True),
            ApiClient(id="slow-kiosk", token_sha256=token_hash(SLOW), exams=("it-*",),
                      gates=("gate-*",), rate_per_s=0.2, rate_burst=3)),
            decision_wait_s=20, max_request_bytes=600_000)
        ctx, stop = build_context(world["settings"], settings)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        end = time.monotonic() + 60
        while ctx.ready() is not None or not server.started:
            assert time.monotonic() < end, "the API did not become ready"
            time.sleep(0.2)
        world["api"] = f"http://127.0.0.1:{port}"
        yield world
        server.should_exit = True
        thread.join(10)
        stop()


def _kiosk(api: dict, tmp_path: Path, student: str, frames: list[bytes]) -> dict:
    script = tmp_path / "check_in.sh"
    script.write_text(KIOSK_SCRIPT.lstrip())
    paths = []
    for i, data in enumerate(frames):
        paths.append(tmp_path / f"frame-{i}.jpg")
        paths[-1].write_bytes(data)
    env = {"PATH": "/usr/bin:/bin", "EXAMGATE_API": api["api"], "KIOSK_TOKEN": TOKEN,
           "GATE_ID": "gate-api-1", "EXAM_ID": "it-api"}
    done = subprocess.run(["sh", str(script), student, *map(str, paths)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.lfw
@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_a_kiosk_script_checks_students_in_through_kafka(api: dict, tmp_path: Path) -> None:
    (ann, ann_photos), (bob, bob_photos) = people(api["settings"], 2)
    enroll(api, f"{ann}-api", ann_photos[0].read_bytes())
    genuine = _kiosk(api, tmp_path, f"{ann}-api", live_burst(ann_photos[1].read_bytes()))
    impostor = _kiosk(api, tmp_path, f"{ann}-api", live_burst(bob_photos[1].read_bytes()))
    # The answers are the processors' own decisions, each once on the decisions topic.
    assert decisions_on_topic(api, [genuine["event_id"], impostor["event_id"]]) == \
        {genuine["event_id"]: 1, impostor["event_id"]: 1}
    collected = api["collector"].decisions
    for answer in (genuine, impostor):
        decided = collected[answer["event_id"]][0]
        assert (answer["outcome"], answer["reason"]) == (decided["outcome"], decided["reason"])
    assert genuine["outcome"] in ("ACCEPT", "REVIEW") and genuine["similarity"] > 0.5
    assert impostor["outcome"] != "ACCEPT"
    assert genuine["model_version"] == api["version"]
    # Any replica can give a decision again later; health, readiness and metrics answer.
    import httpx2 as httpx

    again = httpx.get(f"{api['api']}/v1/decisions/{genuine['event_id']}",
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    assert again == genuine
    assert httpx.get(f"{api['api']}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{api['api']}/readyz", timeout=10).status_code == 200
    metrics = httpx.get(f"{api['api']}/metrics/", timeout=10).text
    assert 'examgate_api_requests_total{route="checkins",status="200"}' in metrics


@pytest.mark.lfw
def test_compare_and_enrollment_status_on_the_champion(api: dict) -> None:
    import httpx2 as httpx

    (cat, photos), = people(api["settings"], 3)[2:]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    files = {"image_a": ("a.jpg", photos[0].read_bytes(), "image/jpeg"),
             "image_b": ("b.jpg", photos[1].read_bytes(), "image/jpeg")}
    same = httpx.post(f"{api['api']}/v1/compare", files=files, headers=auth, timeout=60).json()
    assert same["model_version"] == api["version"]
    assert same["similarity"] >= same["thresholds"]["accept"], same
    assert (same["outcome"], same["reason"]) == ("ACCEPT", "MATCH")
    status = httpx.get(f"{api['api']}/v1/students/{cat}-never/enrollment", headers=auth,
                       timeout=10).json()
    assert status == {"student_id": f"{cat}-never", "enrolled": False, "model_versions": []}
    enroll(api, f"{cat}-api", photos[0].read_bytes())
    status = httpx.get(f"{api['api']}/v1/students/{cat}-api/enrollment", headers=auth,
                       timeout=10).json()
    assert status["enrolled"] and api["version"] in status["model_versions"]


def test_the_readme_shows_the_kiosk_script_this_module_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert KIOSK_SCRIPT.lstrip() in readme


def _checkins_published(world: dict) -> int:
    from confluent_kafka import TopicPartition

    from examgate.adapters.kafka import KafkaClients

    s = world["settings"]
    consumer = KafkaClients(s.kafka).consumer(group_id="it-api-offsets")
    try:
        meta = consumer.list_topics(s.kafka.topics.checkins, timeout=10)
        parts = meta.topics[s.kafka.topics.checkins].partitions
        return sum(consumer.get_watermark_offsets(
            TopicPartition(s.kafka.topics.checkins, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()


def test_every_refusal_against_the_live_api_publishes_nothing(api: dict) -> None:
    """Bad input classes, token scoping and the rate limit, over real HTTP: each a 4xx with
    its reason code, and not one record reaches the check-in topic."""
    import struct
    import zlib

    import httpx2 as httpx

    ((name, photos),) = people(api["settings"], 1)
    photo = photos[0].read_bytes()
    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    url = f"{api['api']}/v1/checkins"
    ok = {"student_id": f"{name}-api", "gate_id": "gate-api-1", "exam_id": "it-api"}

    def post(token: str | None = TOKEN, frames: list[bytes] = [photo],  # noqa: B006
             **fields: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(url, data={**ok, **fields}, headers=headers, timeout=30,
                          files=[("frame", (f"{i}.jpg", f, "image/jpeg"))
                                 for i, f in enumerate(frames)])

    before = _checkins_published(api)
    cases = [
        (post(token=None), 401, "UNAUTHENTICATED"),
        (post(token="not-a-token-of-anyone"), 401, "UNAUTHENTICATED"),
        (post(exam_id="another-exam"), 403, "NOT_IN_SCOPE"),
        (post(gate_id="hall-z-9"), 403, "NOT_IN_SCOPE"),
        (post(frames=[b"plain text, no image"]), 422, "NOT_AN_IMAGE"),
        (post(frames=[bomb]), 422, "IMAGE_TOO_LARGE"),
        (post(frames=[photo] * 10), 422, "TOO_MANY_FRAMES"),
        (post(frames=[photo + b"\0" * 700_000]), 413, "TOO_LARGE"),
        (post(student_id="x y"), 422, "INVALID_FIELD"),
        (httpx.post(url, data={"gate_id": "gate-api-1"}, headers={
            "Authorization": f"Bearer {TOKEN}"}, timeout=30), 422, "INVALID_FIELD"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]) == (status, code), \
            response.text
    # The second kiosk may make 3 requests at once, then one each 5 s: the 4th is refused.
    statuses = [post(token=SLOW, frames=[b"no image"]).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert _checkins_published(api) == before, "a refused request reached the topic"
