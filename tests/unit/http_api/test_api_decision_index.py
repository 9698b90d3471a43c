"""The decision index of each API replica: bounded in count and age, and a waiting request
woken by a decision read on another thread."""

from __future__ import annotations

import asyncio
import threading

from http_api.decisions import DecisionIndex


def _d(event_id: str) -> dict:
    return {"event_id": event_id, "outcome": "ACCEPT"}


def test_it_keeps_at_most_so_many_and_none_too_old() -> None:
    now = [0.0]
    index = DecisionIndex(max_items=3, max_age_s=60, clock=lambda: now[0])
    for i in range(5):
        index.add(_d(f"e{i}"))
    assert len(index) == 3 and index.get("e0") is None and index.get("e4") is not None
    now[0] = 61
    assert index.get("e4") is None and len(index) == 0


def test_a_waiter_is_woken_by_a_decision_from_another_thread() -> None:
    index = DecisionIndex(10, 60)

    async def scenario() -> tuple[dict | None, dict | None]:
        future = index.expect("e1")
        threading.Timer(0.05, index.add, [_d("e1")]).start()
        got = await index.wait("e1", future, 2.0)
        late = await index.wait("e2", index.expect("e2"), 0.05)
        return got, late

    got, late = asyncio.run(scenario())
    assert got == _d("e1") and late is None
    assert index._waiters == {}  # nobody left waiting


def test_a_decision_read_before_the_wait_is_not_missed() -> None:
    index = DecisionIndex(10, 60)
    index.add(_d("e1"))

    async def scenario() -> dict | None:
        return await index.wait("e1", index.expect("e1"), 0.01)

    assert asyncio.run(scenario()) == _d("e1")
