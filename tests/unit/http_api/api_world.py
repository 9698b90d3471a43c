"""The API on in-memory services: a fake broker whose "processors" answer each check-in
(fixtures registered by this folder's conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from examgate.adapters.templates import MemoryTemplateStore
from http_api.app import ApiContext, create_app
from http_api.decisions import DecisionIndex
from http_api.settings import ApiClient, ApiSettings, token_hash

KIOSK, REGISTRAR = "kiosk-token-0123456789", "registrar-token-0123456789"


class FakeBroker:
    """Takes CheckIns; a "processor" decides each after ``delay_s`` into the index."""

    def __init__(self, index: DecisionIndex) -> None:
        self.index = index
        self.published: list[dict[str, Any]] = []
        self.delay_s = 0.05
        self.down = False
        self.outcome: Callable[[dict[str, Any]], tuple[str, str]] = \
            lambda _r: ("ACCEPT", "MATCH")
        self.liveness: dict[str, Any] | None = None  # the decisions' liveness record

    def __call__(self, record: dict[str, Any]) -> None:
        if self.down:
            raise RuntimeError("broker unreachable (simulated)")
        self.published.append(record)
        outcome, reason = self.outcome(record)
        decision = {k: record[k] for k in ("event_id", "gate_id", "exam_id",
                                           "claimed_student_id", "captured_at")}
        decision.update(outcome=outcome, reason=reason, reason_detail="", similarity=0.7,
                        thresholds={"accept": 0.46, "reject": 0.37}, model_version="1",
                        quality=None, liveness=self.liveness, latency_ms={},
                        decided_at=None,
                        review_frame={"bucket": "b", "key": "k"})
        threading.Timer(self.delay_s, self.index.add, [decision]).start()


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(tokens=(
        ApiClient(id="kiosk-a", token_sha256=token_hash(KIOSK), exams=("MATH101-*",),
                  gates=("hall-a-*",)),
        ApiClient(id="registrar", token_sha256=token_hash(REGISTRAR), exams=("*",),
                  gates=("*",), compare=True, enrollment_status=True),
        ApiClient(id="old-kiosk", token_sha256=token_hash("revoked-token-0123456789"),
                  exams=("*",), gates=("*",), revoked=True),
    ), decision_wait_s=0.5, rate_per_s=50, rate_burst=50)


@pytest.fixture
def world(settings: ApiSettings) -> Iterator[dict[str, Any]]:
    index = DecisionIndex(1000, 600)
    broker = FakeBroker(index)
    templates = MemoryTemplateStore()
    analyzer: dict[str, Any] = {"model": None}
    ctx = ApiContext(settings, broker, index, lambda: None, lambda: analyzer["model"],
                     templates)
    with TestClient(create_app(ctx)) as client:
        yield {"client": client, "broker": broker, "index": index, "templates": templates,
               "analyzer": analyzer, "ctx": ctx}
