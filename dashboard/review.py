"""The review queue and the verdicts on it.

The queue is a projection of the topics: REVIEW decisions, plus REJECT decisions a
proctor disputed (the dispute is an audit record), minus every decision that has a
Feedback event. The same projection therefore rebuilds itself after a restart and
agrees across console instances: a verdict given on one removes the item on all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from examgate.core import events
from examgate.core.settings import TopicSettings

from . import audit
from .feed import Broadcaster, Message, RecentDecisions, Where, matches
from .ports import EventSink, Outgoing

Record = dict[str, Any]

VERDICTS = ("SAME_PERSON", "DIFFERENT_PERSON", "UNSURE")
MAX_COMMENT = 500


class ReviewError(ValueError):
    """A review action that cannot be carried out; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class OutOfScope(ReviewError):
    """The decision is of an exam the acting user may not see (their ``exams``)."""

    def __init__(self, decision: Record) -> None:
        super().__init__("This decision is not of one of your exams.", 403)
        self.exam_id = str(decision.get("exam_id", ""))


@dataclass(frozen=True)
class QueueItem:
    """A decision waiting for a person's verdict."""

    decision: Record
    queued_at: datetime
    disputed_by: str = ""
    dispute_note: str = ""

    @property
    def event_id(self) -> str:
        """The decision's (and its check-in's) event id."""
        return self.decision["event_id"]

    @property
    def disputed(self) -> bool:
        """A REJECT a proctor asked to look at again."""
        return bool(self.disputed_by)


class _BoundedSet:
    """Remembers the last ``capacity`` keys (with a value each), oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._d: OrderedDict[str, Any] = OrderedDict()

    def add(self, key: str, value: Any = None) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.capacity:
            self._d.popitem(last=False)

    def pop(self, key: str) -> Any:
        return self._d.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._d


class ReviewQueue:
    """Decisions awaiting a verdict, oldest first (thread-safe, no I/O)."""

    def __init__(self, memory: int = 100_000) -> None:
        self._items: dict[str, QueueItem] = {}
        self._resolved = _BoundedSet(memory)
        self._early_disputes = _BoundedSet(memory)  # dispute read before its decision
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    def offer(self, decision: Record) -> QueueItem | None:
        """Queue a REVIEW decision (or a REJECT already disputed); the new item, or None."""
        eid = decision["event_id"]
        with self._lock:
            if eid in self._resolved or eid in self._claimed or eid in self._items:
                return None
            early = self._early_disputes.pop(eid)
            if decision["outcome"] == "REVIEW":
                item = QueueItem(decision, events.utcnow())
            elif decision["outcome"] == "REJECT" and early is not None:
                item = QueueItem(decision, events.utcnow(), early[0], early[1])
            else:
                return None
            self._items[eid] = item
            return item

    def dispute(self, decision: Record, by: str, note: str = "") -> QueueItem | None:
        """Queue a disputed REJECT; None when it is queued or resolved already."""
        if decision["outcome"] != "REJECT":
            raise ReviewError(f"only REJECT decisions can be disputed, not "
                              f"{decision['outcome']}", 400)
        eid = decision["event_id"]
        with self._lock:
            if eid in self._resolved or eid in self._claimed or eid in self._items:
                return None
            item = QueueItem(decision, events.utcnow(), by, note)
            self._items[eid] = item
            return item

    def note_dispute(self, decision_id: str, by: str, note: str = "") -> None:
        """A dispute of a decision not read yet: queue it when the decision arrives."""
        with self._lock:
            if decision_id not in self._resolved and decision_id not in self._items:
                self._early_disputes.add(decision_id, (by, note))

    def claim(self, decision_id: str) -> QueueItem | None:
        """Take an item out while its verdict is being published; None if not queued."""
        with self._lock:
            item = self._items.pop(decision_id, None)
            if item is not None:
                self._claimed.add(decision_id)
            return item

    def release(self, item: QueueItem, resolved: bool) -> None:
        """End a claim: resolved for good, or back in the queue when publishing failed."""
        with self._lock:
            self._claimed.discard(item.event_id)
            if resolved:
                self._resolved.add(item.event_id)
            elif item.event_id not in self._resolved:
                self._items[item.event_id] = item

    def resolve(self, decision_id: str) -> QueueItem | None:
        """A verdict exists (from any console): drop the item for good; the item, if queued."""
        with self._lock:
            self._resolved.add(decision_id)
            self._early_disputes.pop(decision_id)
            return self._items.pop(decision_id, None)

    def get(self, decision_id: str) -> QueueItem | None:
        """The queued item for that decision, if any."""
        with self._lock:
            return self._items.get(decision_id)

    def items(self, where: Where, exam: str = "", gate: str = "") -> list[QueueItem]:
        """Queued items ``where`` allows, of ``exam`` and ``gate`` (all when empty), oldest
        decision first."""
        with self._lock:
            items = list(self._items.values())
        return sorted((i for i in items if where(i.decision) and matches(i.decision, exam, gate)),
                      key=lambda i: i.decision["decided_at"])

    def count(self, where: Where) -> int:
        """How many queued items ``where`` allows."""
        with self._lock:
            items = list(self._items.values())
        return sum(1 for i in items if where(i.decision))

    def state(self, decision_id: str) -> str:
        """``queued``, ``resolved`` (a verdict exists) or empty, for the live table."""
        with self._lock:
            if decision_id in self._items or decision_id in self._claimed:
                return "queued"
            return "resolved" if decision_id in self._resolved else ""

    def is_resolved(self, decision_id: str) -> bool:
        """Whether a verdict on that decision has been seen."""
        with self._lock:
            return decision_id in self._resolved

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _queue_message(op: str, item: QueueItem, size: int) -> Message:
    d = item.decision
    return Message("queue", {"op": op, "event_id": item.event_id, "exam_id": d["exam_id"],
                             "gate_id": d["gate_id"], "size": size})


class ReviewDesk:
    """What proctors do to the queue, and how the topics change it."""

    def __init__(self, queue: ReviewQueue, recent: RecentDecisions, hub: Broadcaster,
                 sink: EventSink, auditor: audit.Auditor, topics: TopicSettings) -> None:
        self.queue = queue
        self.recent = recent
        self.hub = hub
        self._sink = sink
        self._auditor = auditor
        self._topics = topics

    def submit_verdict(self, *, actor: str, role: str, decision_id: str, verdict: str,
                       may_act: Where, comment: str = "") -> Record:
        """Publish a Feedback (key: the decision id) and its audit record; the Feedback.
        OutOfScope when ``may_act`` refuses the decision (another exam's)."""
        if verdict not in VERDICTS:
            raise ReviewError(f"unknown verdict {verdict!r}", 400)
        comment = comment.strip()[:MAX_COMMENT]
        item = self.queue.claim(decision_id)
        if item is None:
            raise ReviewError("This decision is not in the review queue any more: someone "
                              "already gave a verdict on it.")
        # Checked on the claimed item itself, so no decision can slip in between check and use.
        if not may_act(item.decision):
            self.queue.release(item, resolved=False)
            raise OutOfScope(item.decision)
        feedback = events.feedback(decision_event_id=decision_id, verdict=verdict,
                                   reviewer_id=actor, comment=comment or None)
        d = item.decision
        detail = (f"verdict={verdict} feedback={feedback['event_id']} exam={d['exam_id']} "
                  f"gate={d['gate_id']} student={d['claimed_student_id']}")
        try:
            self._sink.send([
                Outgoing(self._topics.feedback, decision_id, "Feedback", feedback),
                self._auditor.outgoing(actor=actor, role=role, action=audit.FEEDBACK,
                                       target=decision_id, detail=detail),
            ])
        except Exception:
            self.queue.release(item, resolved=False)
            raise
        self.queue.release(item, resolved=True)
        self.hub.publish(_queue_message("remove", item, len(self.queue)))
        return feedback

    def dispute(self, *, actor: str, role: str, decision_id: str, may_act: Where,
                note: str = "") -> QueueItem:
        """Put a REJECT decision in the queue; the audit record is the dispute's durable form.
        OutOfScope when ``may_act`` refuses the decision (another exam's)."""
        decision = self.recent.get(decision_id)
        if decision is None:
            raise ReviewError("That decision is no longer in the console's recent decisions.",
                              404)
        if not may_act(decision):
            raise OutOfScope(decision)
        if decision["outcome"] != "REJECT":
            raise ReviewError("Only REJECT decisions can be disputed.", 400)
        if self.queue.is_resolved(decision_id):
            raise ReviewError("This decision already has a verdict.")
        queued = self.queue.get(decision_id)
        if queued is not None:
            return queued
        note = note.strip()[:MAX_COMMENT]
        self._auditor.record(actor=actor, role=role, action=audit.DISPUTE, target=decision_id,
                             detail=note)
        item = self.queue.dispute(decision, actor, note) or self.queue.get(decision_id)
        if item is None:  # resolved in the meantime
            raise ReviewError("This decision already has a verdict.")
        self.hub.publish(_queue_message("add", item, len(self.queue)))
        return item

    # -- what the topics say -------------------------------------------------------------

    def on_decision(self, decision: Record) -> None:
        """A decision was read: remember it, show it live, queue it if it needs a person."""
        self.recent.add(decision)
        self.hub.publish(Message("decision", decision))
        item = self.queue.offer(decision)
        if item is not None:
            self.hub.publish(_queue_message("add", item, len(self.queue)))

    def on_feedback(self, feedback: Record) -> None:
        """A verdict was read (from this console or another): the item leaves the queue."""
        item = self.queue.resolve(feedback["decision_event_id"])
        if item is not None:
            self.hub.publish(_queue_message("remove", item, len(self.queue)))

    def on_audit(self, record: Record) -> None:
        """An audit record was read: replay disputes (also those made before a restart)."""
        if record["action"] != audit.DISPUTE:
            return
        decision = self.recent.get(record["target"])
        if decision is None:
            self.queue.note_dispute(record["target"], record["actor"], record["detail"])
            return
        if decision["outcome"] != "REJECT":
            return
        item = self.queue.dispute(decision, record["actor"], record["detail"])
        if item is not None:
            self.hub.publish(_queue_message("add", item, len(self.queue)))

