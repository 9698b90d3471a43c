"""The live feed: ring buffer, fan-out to streams, SSE framing, routing, and the audit codec."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from dashboard import audit
from dashboard.app import create_app
from dashboard.feed import Broadcaster, Message, RecentDecisions, sse_json, sse_stream
from dashboard.ports import ConsolePorts
from dashboard.settings import ConsoleSettings
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings

MakeDecision = Callable[..., dict[str, Any]]


def _every_exam(_record: object) -> bool:
    """A reader of every exam (per-exam scopes are tested in test_console_exam_scopes.py)."""
    return True


def test_ring_keeps_the_newest(make_decision: MakeDecision) -> None:
    ring = RecentDecisions(3)
    ds = [make_decision("ACCEPT", gate=f"g{i % 2}") for i in range(5)]
    for d in ds:
        ring.add(d)
    assert len(ring) == 3
    assert [d["event_id"] for d in ring.latest(_every_exam)] == [d["event_id"] for d in ds[:1:-1]]
    assert ring.get(ds[0]["event_id"]) is None
    assert [d["gate_id"] for d in ring.latest(_every_exam, gate="g0")] == ["g0", "g0"]
    assert ring.facets(_every_exam) == (["exam-42"], ["g0", "g1"])


def test_a_repeated_decision_replaces_the_old_one(make_decision: MakeDecision) -> None:
    ring = RecentDecisions(3)
    d = make_decision()
    ring.add(d)
    ring.add(dict(d, reason_detail="again"))
    assert len(ring) == 1 and ring.get(d["event_id"])["reason_detail"] == "again"


def test_stream_gets_messages_from_other_threads() -> None:
    async def scenario() -> list[str]:
        hub = Broadcaster()
        sub = hub.subscribe()
        stream = sse_stream(sub, lambda m: sse_json(m.data) if m.data.get("keep") else None,
                            heartbeat_s=0.05)
        assert await anext(stream) == "retry: 3000\n\n"

        def produce() -> None:
            hub.publish(Message("decision", {"keep": False}))
            hub.publish(Message("decision", {"keep": True, "text": "a\nb"}))
            hub.close_all()

        threading.Thread(target=produce).start()
        chunks = [chunk async for chunk in stream]
        hub.unsubscribe(sub)
        assert len(hub) == 0
        return chunks

    chunks = [c for c in asyncio.run(scenario()) if not c.startswith(":")]
    assert chunks == ['event: decision\ndata: {"keep":true,"text":"a\\nb"}\n\n']


def test_quiet_stream_sends_keep_alives() -> None:
    async def scenario() -> str:
        hub = Broadcaster()
        stream = sse_stream(hub.subscribe(), lambda m: None, heartbeat_s=0.01)
        await anext(stream)
        return await anext(stream)

    assert asyncio.run(scenario()) == ": keep-alive\n\n"


def test_a_slow_stream_is_closed_not_buffered_forever() -> None:
    async def scenario() -> list[str]:
        hub = Broadcaster()
        sub = hub.subscribe()
        for i in range(sub.queue.maxsize + 10):
            hub.publish(Message("decision", {"i": i}))
        await asyncio.sleep(0)  # let the loop run the queued puts
        stream = sse_stream(sub, lambda m: sse_json(m.data), heartbeat_s=1)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(scenario())
    # What fitted is delivered, then the stream ends by itself (the browser reconnects).
    assert chunks[0].startswith("retry") and len(chunks) == 256
    assert json.loads(chunks[-1].split("data: ")[1]) == {"i": 255}


def test_events_are_routed_by_topic(settings: Settings, console_settings: ConsoleSettings,
                                    ports: ConsolePorts, make_decision: MakeDecision) -> None:
    app = create_app(settings, console_settings, ports)
    console = app.state.console
    d = make_decision()
    ports.source.start(console.deliver)
    ports.source.push("some.other.topic", "Decision", d)
    assert len(console.recent) == 0
    ports.source.push("gate.decisions", "Decision", d)
    assert len(console.recent) == 1 and len(console.desk.queue) == 1
    ports.source.push("audit.events", audit.AUDIT_EVENT,
                      audit.audit_event(actor="x", role="proctor", action="login"))
    ports.source.push("gate.feedback", "Feedback",
                      {"decision_event_id": d["event_id"], "verdict": "UNSURE"})
    assert len(console.desk.queue) == 0


def test_audit_events_round_trip(codec: EventCodec) -> None:
    c = audit.console_codec()
    record = audit.audit_event(actor="pat", role="proctor", action="feedback", target="d1",
                               detail="verdict=SAME_PERSON")
    decoded = c.decode(c.encode("AuditEvent", record), expected="AuditEvent")
    assert decoded.record == record
    # The other events still go through as the shared codec writes them.
    fb = {"schema_version": 1, "event_id": "e", "decision_event_id": "d1",
          "verdict": "UNSURE", "reviewer_id": "pat", "comment": None,
          "reviewed_at": record["at"]}
    assert c.encode("Feedback", fb) == codec.encode("Feedback", fb)


def test_sse_json_is_one_line() -> None:
    line = sse_json({"row": "<tr>\n<td>x</td>\n</tr>"})
    assert "\n" not in line and json.loads(line)["row"].count("\n") == 2
