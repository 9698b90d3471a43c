"""The console on in-memory ports: no Kafka, no object store, a TestClient per test."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from dashboard.audit import console_codec
from dashboard.auth import hash_password
from dashboard.memory import MemoryEventSink, MemoryEventSource
from dashboard.ports import ConsolePorts
from dashboard.settings import ConsoleSettings, ConsoleUser
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core import events
from examgate.core.crypto import Sealer
from examgate.core.ports import ObjectStoreError
from examgate.core.settings import Settings

PASSWORDS = {"pat": "pat-proctor-pw", "ada": "ada-admin-pw", "nia": "nia-no-exams-pw"}
KEY_B64 = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    """Argon2 is slow on purpose: hash each test password once per session."""
    return {name: hash_password(pw) for name, pw in PASSWORDS.items()}


@pytest.fixture
def console_settings(password_hashes: dict[str, str]) -> ConsoleSettings:
    """A proctor (pat) and an admin (ada), both of every exam; nia, a proctor of none."""
    users = (ConsoleUser(username="pat", role="proctor", password_hash=password_hashes["pat"],
                         display_name="Pat Proctor", exams=("*",)),
             ConsoleUser(username="ada", role="admin", password_hash=password_hashes["ada"],
                         exams=("*",)),
             ConsoleUser(username="nia", role="proctor", password_hash=password_hashes["nia"]))
    return ConsoleSettings(users=users, session_secret="s" * 40)


class PresigningMemoryStore(MemoryObjectStore):
    """The memory store with fake presigned links, like the S3 one offers."""

    def presigned_url(self, bucket: str, key: str, expires: timedelta) -> str:
        if self.fail:
            raise ObjectStoreError("object store unreachable")
        return f"http://objects.test/{bucket}/{key}?expires={int(expires.total_seconds())}"


@pytest.fixture
def ports() -> ConsolePorts:
    """In-memory events, source and object store."""
    return ConsolePorts(events=MemoryEventSink(console_codec()), source=MemoryEventSource(),
                        objects=PresigningMemoryStore(), sealer=Sealer.from_base64(KEY_B64))


@pytest.fixture
def settings() -> Settings:
    """ExamGate settings with the test key (no service is contacted)."""
    return Settings(template_key=KEY_B64)


@pytest.fixture
def client(settings: Settings, console_settings: ConsoleSettings,
           ports: ConsolePorts) -> Iterator[TestClient]:
    """A client of a started app (its lifespan has started the memory source)."""
    with TestClient(create_app(settings, console_settings, ports),
                    base_url="http://testserver") as c:
        yield c


def _csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    """Finds the CSRF token of the first form on a page."""
    return _csrf_of


@pytest.fixture
def passwords() -> dict[str, str]:
    """The test users' passwords."""
    return dict(PASSWORDS)


@pytest.fixture
def login(client: TestClient) -> Callable[[str], TestClient]:
    """Log ``client`` in as pat, ada or nia."""

    def do(username: str = "pat") -> TestClient:
        page = client.get("/login")
        resp = client.post("/login", data={"username": username,
                                           "password": PASSWORDS[username],
                                           "csrf": _csrf_of(page.text), "next": "/review"},
                           follow_redirects=False)
        assert resp.status_code == 303, resp.text
        return client

    return do


@pytest.fixture
def make_decision() -> Callable[..., dict[str, Any]]:
    """A Decision record, REVIEW by default, with a kept frame (and ``burst`` kept burst
    frames, and ``liveness`` evidence, when given)."""

    def make(outcome: str = "REVIEW", *, student: str = "s-001", gate: str = "gate-1",
             exam: str = "exam-42", reason: str = "UNCERTAIN_MATCH", frame: bool = True,
             similarity: float | None = 0.41, liveness: dict[str, Any] | None = None,
             burst: int = 0) -> dict[str, Any]:
        eid = events.new_event_id()
        now = events.utcnow()
        kept_burst = [events.object_ref("examgate-frames", f"review/{student}/{eid}-{k}.jpg",
                                        f"burst {k}".encode()) for k in range(1, burst + 1)]
        return {
            "event_id": eid, "gate_id": gate, "exam_id": exam, "claimed_student_id": student,
            "outcome": outcome, "reason": reason, "reason_detail": "Score between thresholds.",
            "similarity": similarity,
            "thresholds": {"accept": 0.52, "reject": 0.30, "accept_far": 1e-4,
                           "reject_far": 1e-2, "replay": 0.995},
            "model_version": "3",
            "quality": {"face_count": 1, "face_size_px": 140.0, "sharpness": 9.5,
                        "brightness": 120.0, "clipped_fraction": 0.01, "yaw_deg": 4.0,
                        "roll_deg": -2.0, "detector_confidence": 0.97, "failed": ["BLURRY"]},
            "liveness": liveness, "latency_ms": {}, "shadow": None,
            "review_burst": kept_burst,
            "review_frame": (events.object_ref("examgate-frames", f"review/{student}/{eid}.jpg",
                                               b"frame") if frame else None),
            "captured_at": now, "published_at": now, "decided_at": now, "processor_id": "p1",
        }

    return make
