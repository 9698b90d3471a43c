"""Finding one's own decisions: every replica reads the decisions topic, keeps a small index.

Why so: decisions are small (about 2 KB) and few (a university's busiest gate hour is
tens per second), so each replica reading all of them costs little, and then any
replica can answer ``GET /v1/decisions/{id}`` whichever one took the check-in, with
no sticky routing and no reply topic. What is kept is bounded in count and in age;
a waiting request is woken on its own event loop as its decision arrives.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("examgate.api.decisions")
Decision = dict[str, Any]


class DecisionIndex:
    """Recent decisions by event id (at most ``max_items``, none older than ``max_age_s``),
    and the requests waiting for one."""

    def __init__(self, max_items: int, max_age_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_items, self.max_age_s, self._clock = max_items, max_age_s, clock
        self._items: OrderedDict[str, tuple[float, Decision]] = OrderedDict()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._lock = threading.Lock()

    def add(self, decision: Decision) -> None:
        """Keep a decision read from the topic and wake whoever waits for it (any thread)."""
        event_id = decision["event_id"]
        with self._lock:
            now = self._clock()
            self._items[event_id] = (now, decision)
            self._items.move_to_end(event_id)
            self._evict(now)
            waiters = self._waiters.pop(event_id, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future, decision)

    def get(self, event_id: str) -> Decision | None:
        """The decision of ``event_id`` if still kept."""
        with self._lock:
            self._evict(self._clock())
            item = self._items.get(event_id)
        return None if item is None else item[1]

    def expect(self, event_id: str) -> asyncio.Future:
        """A future of ``event_id``'s decision, registered now (before the check-in is
        published, so that a fast decision cannot slip past); call on the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        with self._lock:
            item = self._items.get(event_id)
            if item is not None:
                future.set_result(item[1])
            else:
                self._waiters.setdefault(event_id, []).append((loop, future))
        return future

    def forget(self, event_id: str, future: asyncio.Future) -> None:
        """Stop waiting with ``future`` (the request ended)."""
        with self._lock:
            left = [w for w in self._waiters.get(event_id, []) if w[1] is not future]
            if left:
                self._waiters[event_id] = left
            else:
                self._waiters.pop(event_id, None)

    async def wait(self, event_id: str, future: asyncio.Future,
                   timeout_s: float) -> Decision | None:
        """The decision ``future`` (from :meth:`expect`) gets within ``timeout_s``, or None."""
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self.forget(event_id, future)

    def __len__(self) -> int:
        return len(self._items)

    def _evict(self, now: float) -> None:
        while self._items and (len(self._items) > self.max_items
                               or next(iter(self._items.values()))[0] < now - self.max_age_s):
            self._items.popitem(last=False)


def _resolve(future: asyncio.Future, decision: Decision) -> None:
    if not future.done():
        future.set_result(decision)


class DecisionFeed(threading.Thread):
    """Reads the decisions topic from its end (committed decisions only) into an index."""

    def __init__(self, reader: Any, index: DecisionIndex) -> None:  # reader: EventReader
        super().__init__(name="decisions", daemon=True)
        self.reader, self.index = reader, index
        self.ready = threading.Event()  # set by the reader's on_assign
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for item, _ in self.reader.events(timeout=0.5):
                if isinstance(item, Exception):
                    log.warning("an undecodable decision was skipped: %s", item)
                    continue
                self.index.add(item.record)
        self.reader.close()

    def stop(self) -> None:
        """Stop reading (the thread closes its consumer)."""
        self._stop_event.set()
