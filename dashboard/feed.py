"""The live feed: the recent decisions in memory, and SSE fan-out to the browsers.

An event source (:mod:`dashboard.kafka_events`) hands each decision, feedback and
audit event to the app on a background thread. Recent decisions stay in a bounded
ring so that a page load shows them (alerts, see :func:`is_alert`, in a ring of their
own, so a busy gate's accepts do not push them out); every browser tab holds a bounded queue fed by
that thread, and a tab too slow to keep up is dropped (its EventSource reconnects
and reloads).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
Where = Callable[[Record], bool]
"""Which records a reader may see (the user's exams): every query of the console takes one."""


class RecentDecisions:
    """The last ``capacity`` decisions by arrival, indexed by event id (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Record] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, decision: Record) -> None:
        """Remember ``decision``; a repeat of an event id replaces the earlier one."""
        with self._lock:
            self._items.pop(decision["event_id"], None)
            self._items[decision["event_id"]] = decision
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, event_id: str) -> Record | None:
        """The decision with that event id, if it is still remembered."""
        with self._lock:
            return self._items.get(event_id)

    def latest(self, where: Where, exam: str = "", gate: str = "", limit: int = 200
               ) -> list[Record]:
        """Newest first, only those ``where`` allows, and of ``exam`` and ``gate`` when given."""
        with self._lock:
            items = list(reversed(self._items.values()))
        return [d for d in items if where(d) and matches(d, exam, gate)][:limit]

    def facets(self, where: Where) -> tuple[list[str], list[str]]:
        """The exams and gates among the recent decisions ``where`` allows, for the pickers."""
        with self._lock:
            items = [d for d in self._items.values() if where(d)]
        return (sorted({d["exam_id"] for d in items}), sorted({d["gate_id"] for d in items}))

    def count(self, where: Where) -> int:
        """How many of the decisions kept ``where`` allows."""
        with self._lock:
            items = list(self._items.values())
        return sum(1 for d in items if where(d))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def is_alert(decision: Record) -> bool:
    """A decision proctors are alerted to: a REJECT for a presentation attack (someone tried
    to get in with a photo or a screen)."""
    return decision.get("outcome") == "REJECT" and decision.get("reason") == "PRESENTATION_ATTACK"


def matches(decision: Record, exam: str = "", gate: str = "") -> bool:
    """Whether a decision (or anything with exam_id and gate_id) passes the filters."""
    return (not exam or decision.get("exam_id") == exam) and \
        (not gate or decision.get("gate_id") == gate)


@dataclass(frozen=True)
class Message:
    """Something that happened, for the browsers: a new decision or a change of the queue."""

    kind: str  # "decision" or "queue"
    data: Record


_CLOSED = Message("closed", {})


@dataclass(eq=False)
class Subscription:
    """One browser tab's stream: a bounded queue filled from any thread."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(256))
    closed: bool = False

    def _put(self, message: Message) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: end the stream rather than buffer without bound.
            self.closed = True
            self.queue.get_nowait()
            self.queue.put_nowait(_CLOSED)

    async def next(self, timeout: float) -> Message | None:
        """The next message, None after ``timeout`` seconds of quiet."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class Broadcaster:
    """Fans messages out from the reader thread (or any thread) to every open stream."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self) -> Subscription:
        """A new stream; call from inside the event loop that will read it."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a stream (its browser went away)."""
        with self._lock:
            self._subs.discard(sub)

    def publish(self, message: Message) -> None:
        """Send ``message`` to every stream; safe from any thread."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, message)
            except RuntimeError:  # its loop is closed: the server is shutting down
                self.unsubscribe(sub)

    def close_all(self) -> None:
        """End every stream (on shutdown, so open tabs do not hold the server)."""
        self.publish(_CLOSED)

    def __len__(self) -> int:
        with self._lock:
            return len(self._subs)


async def sse_stream(sub: Subscription, render: Callable[[Message], str | None],
                     heartbeat_s: float = 15.0) -> AsyncIterator[str]:
    """Server-sent events for one subscription; ``render`` returns the data line or None."""
    yield "retry: 3000\n\n"
    while True:
        message = await sub.next(heartbeat_s)
        if message is None:
            yield ": keep-alive\n\n"  # proxies close connections that stay silent
            continue
        if message is _CLOSED:
            return
        data = render(message)
        if data is not None:
            yield f"event: {message.kind}\ndata: {data}\n\n"


def sse_json(payload: Record) -> str:
    """One SSE data line: JSON never contains a raw newline."""
    return json.dumps(payload, separators=(",", ":"), default=str)
