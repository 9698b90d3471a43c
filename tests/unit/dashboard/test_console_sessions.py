"""Sessions end when they should: a logout revokes the cookie everywhere, and a live stream
stops when its session is no longer valid (review finding 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi.testclient import TestClient

from dashboard import audit
from dashboard.feed import Broadcaster, Message
from examgate.core.codec import DecodedEvent

HTML = {"accept": "text/html"}


def _logout(client: TestClient, csrf_of: Callable[[str], str]) -> None:
    page = client.get("/review", headers=HTML)
    assert page.status_code == 200
    resp = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert resp.status_code == 303


def test_a_saved_cookie_is_worthless_after_logout(login: Callable[[str], TestClient],
                                                  csrf_of: Callable[[str], str]) -> None:
    client = login("pat")
    saved = dict(client.cookies)
    _logout(client, csrf_of)
    client.cookies.clear()
    client.cookies.update(saved)  # someone replays the cookie copied before the logout
    resp = client.get("/review", headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
    assert client.get("/stream").status_code == 401


def test_a_logout_on_another_replica_revokes_the_session(
        login: Callable[[str], TestClient]) -> None:
    """Replicas share logouts through the audit topic they all read."""
    client = login("pat")
    console = client.app.state.console  # type: ignore[attr-defined]
    sid = next(iter(console.auth.active_sessions()))
    record = audit.audit_event(actor="pat", role="proctor", action=audit.LOGOUT,
                                target=f"session:{sid}")
    console.deliver(console.settings.kafka.topics.audit,
                    DecodedEvent(audit.AUDIT_EVENT, 1, record))
    resp = client.get("/review", headers=HTML, follow_redirects=False)
    assert resp.status_code == 303


def test_a_stream_stops_when_its_session_ends() -> None:
    from dashboard.web import _while_valid

    hub = Broadcaster()
    valid = [True]

    async def run() -> list[str]:
        sub = hub.subscribe()
        got = []
        stream = _while_valid(sub, lambda m: "x", lambda: valid[0], heartbeat_s=0.01)
        got.append(await anext(stream))
        hub.publish(Message("decision", {"event_id": "e1"}))
        got.append(await anext(stream))
        valid[0] = False
        hub.publish(Message("decision", {"event_id": "e2"}))
        got.extend([chunk async for chunk in stream])
        return got

    chunks = asyncio.run(asyncio.wait_for(run(), 5))
    assert chunks[0].startswith("retry:") and "data: x" in chunks[1]
    assert len(chunks) == 3 and chunks[2].startswith("event: logout")
