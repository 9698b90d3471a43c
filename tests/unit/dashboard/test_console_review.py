"""The review queue as a projection of the topics, verdicts, disputes, and the review page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.audit import Auditor, audit_event
from dashboard.feed import Broadcaster, RecentDecisions
from dashboard.memory import MemoryEventSink
from dashboard.ports import ConsolePorts, PublishError
from dashboard.review import ReviewDesk, ReviewError, ReviewQueue
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core import events
from examgate.core.settings import Settings, TopicSettings

MakeDecision = Callable[..., dict[str, Any]]


def _every_exam(_record: object) -> bool:
    """A reader of every exam (per-exam scopes are tested in test_console_exam_scopes.py)."""
    return True


@pytest.fixture
def desk() -> ReviewDesk:
    sink = MemoryEventSink()
    recent = RecentDecisions(100)
    return ReviewDesk(ReviewQueue(), recent, Broadcaster(), sink,
                      Auditor(sink, "audit.events"), TopicSettings())


def _feedback(decision_id: str) -> dict[str, Any]:
    return events.feedback(decision_event_id=decision_id, verdict="UNSURE", reviewer_id="x")


def test_only_review_decisions_are_queued(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    review, accept, reject = (make_decision(o) for o in ("REVIEW", "ACCEPT", "REJECT"))
    assert queue.offer(review) is not None
    assert queue.offer(review) is None  # a replayed decision is not queued twice
    assert queue.offer(accept) is None and queue.offer(reject) is None
    assert [i.event_id for i in queue.items(_every_exam)] == [review["event_id"]]


def test_feedback_removes_an_item_for_good(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    d = make_decision()
    queue.offer(d)
    assert queue.resolve(d["event_id"]) is not None
    assert len(queue) == 0
    assert queue.offer(d) is None  # replay after a restart: still resolved


def test_feedback_read_before_its_decision(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    d = make_decision()
    assert queue.resolve(d["event_id"]) is None
    assert queue.offer(d) is None


def test_dispute_queues_a_rejection(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    reject = make_decision("REJECT", reason="NO_MATCH", frame=False)
    item = queue.dispute(reject, "pat", "student insists")
    assert item is not None and item.disputed and item.dispute_note == "student insists"
    with pytest.raises(ReviewError):
        queue.dispute(make_decision("ACCEPT"), "pat")


def test_dispute_read_before_its_decision(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    reject = make_decision("REJECT")
    queue.note_dispute(reject["event_id"], "pat", "")
    item = queue.offer(reject)
    assert item is not None and item.disputed_by == "pat"


def test_filters_and_order(make_decision: MakeDecision) -> None:
    queue = ReviewQueue()
    first, second = make_decision(gate="g1"), make_decision(gate="g2", exam="other")
    first["decided_at"] -= timedelta(seconds=5)
    queue.offer(second)
    queue.offer(first)
    assert [i.event_id for i in queue.items(_every_exam)] == [first["event_id"], second["event_id"]]
    assert [i.event_id for i in queue.items(_every_exam, gate="g2")] == [second["event_id"]]
    assert queue.items(_every_exam, exam="other", gate="g1") == []


def test_verdict_publishes_feedback_and_audit(desk: ReviewDesk,
                                              make_decision: MakeDecision) -> None:
    d = make_decision()
    desk.on_decision(d)
    feedback = desk.submit_verdict(actor="pat", role="proctor", decision_id=d["event_id"],
                                   verdict="SAME_PERSON", comment="  looks right ",
                                   may_act=_every_exam)
    sent = desk._sink.sent
    assert [(e.topic, e.key, e.name) for e in sent] == [
        ("gate.feedback", d["event_id"], "Feedback"), ("audit.events", "pat", "AuditEvent")]
    assert feedback["verdict"] == "SAME_PERSON" and feedback["reviewer_id"] == "pat"
    assert feedback["comment"] == "looks right"
    assert sent[1].record["target"] == d["event_id"] and "SAME_PERSON" in sent[1].record["detail"]
    assert len(desk.queue) == 0
    with pytest.raises(ReviewError):  # a second verdict on the same item
        desk.submit_verdict(actor="ada", role="admin", decision_id=d["event_id"],
                            verdict="UNSURE", may_act=_every_exam)


def test_verdict_that_cannot_be_published_stays_queued(desk: ReviewDesk,
                                                       make_decision: MakeDecision) -> None:
    d = make_decision()
    desk.on_decision(d)
    desk._sink.fail = True
    with pytest.raises(PublishError):
        desk.submit_verdict(actor="pat", role="proctor", decision_id=d["event_id"],
                            verdict="DIFFERENT_PERSON", may_act=_every_exam)
    assert desk.queue.get(d["event_id"]) is not None


def test_unknown_verdict_is_refused(desk: ReviewDesk, make_decision: MakeDecision) -> None:
    d = make_decision()
    desk.on_decision(d)
    with pytest.raises(ReviewError):
        desk.submit_verdict(actor="pat", role="proctor", decision_id=d["event_id"],
                            verdict="PROBABLY", may_act=_every_exam)
    assert desk.queue.get(d["event_id"]) is not None


def test_dispute_is_audited_and_replayed(desk: ReviewDesk, make_decision: MakeDecision) -> None:
    reject = make_decision("REJECT", reason="NO_MATCH", frame=False)
    desk.on_decision(reject)
    item = desk.dispute(actor="pat", role="proctor", decision_id=reject["event_id"],
                        note="ID card matches", may_act=_every_exam)
    assert item.disputed_by == "pat"
    record = desk._sink.of("AuditEvent")[0]
    assert (record["action"], record["target"]) == ("dispute", reject["event_id"])
    # A fresh console replaying the topics rebuilds the same queue.
    fresh = ReviewDesk(ReviewQueue(), RecentDecisions(100), Broadcaster(), MemoryEventSink(),
                       Auditor(MemoryEventSink(), "audit.events"), TopicSettings())
    fresh.on_audit(record)
    fresh.on_decision(reject)
    assert fresh.queue.get(reject["event_id"]).dispute_note == "ID card matches"
    fresh.on_feedback(_feedback(reject["event_id"]))
    assert len(fresh.queue) == 0


def test_only_recent_rejections_can_be_disputed(desk: ReviewDesk,
                                                make_decision: MakeDecision) -> None:
    accept = make_decision("ACCEPT")
    desk.on_decision(accept)
    with pytest.raises(ReviewError):
        desk.dispute(actor="pat", role="proctor", decision_id=accept["event_id"],
                     may_act=_every_exam)
    with pytest.raises(ReviewError) as err:
        desk.dispute(actor="pat", role="proctor", decision_id="unknown",
                     may_act=_every_exam)
    assert err.value.status == 404


def test_other_audit_actions_do_not_touch_the_queue(desk: ReviewDesk) -> None:
    desk.on_audit(audit_event(actor="pat", role="proctor", action="login"))
    assert len(desk.queue) == 0


# -- through HTTP ----------------------------------------------------------------------


def _store_photos(ports: ConsolePorts, settings: Settings, student: str) -> str:
    key = f"students/{student}/e1-0.jpg.enc"
    assert isinstance(ports.objects, MemoryObjectStore)
    ports.objects.put(settings.object_store.bucket_enrollment, key,
                      ports.sealer.seal(b"\xff\xd8enrolled-jpeg", key))
    return key


def test_review_page_shows_both_pictures(login: Callable[[str], TestClient],
                                         ports: ConsolePorts, settings: Settings,
                                         make_decision: MakeDecision) -> None:
    client = login("pat")
    _store_photos(ports, settings, "s-001")
    d = make_decision()
    ports.source.push("gate.decisions", "Decision", d)
    page = client.get("/review").text
    assert f'data-event-id="{d["event_id"]}"' in page
    assert f"http://objects.test/examgate-frames/review/s-001/{d['event_id']}.jpg" in page
    assert "Score between thresholds." in page and "0.410" in page
    assert "failed: Blurry" in page
    photo = page.split('class="enrolled"')[0].rsplit('src="', 1)[1].split('"')[0]
    assert photo.startswith("/img/")
    resp = client.get(photo)
    assert resp.status_code == 200 and resp.content == b"\xff\xd8enrolled-jpeg"
    assert resp.headers["cache-control"] == "private, no-store"


def test_review_page_with_the_object_store_down_says_so(login: Callable[[str], TestClient],
                                                      ports: ConsolePorts,
                                                      make_decision: MakeDecision) -> None:
    client = login("pat")
    d = make_decision()
    ports.source.push("gate.decisions", "Decision", d)
    assert isinstance(ports.objects, MemoryObjectStore)
    ports.objects.fail = True
    resp = client.get("/review")
    assert resp.status_code == 200  # the queue is still workable: the proctor sees why
    assert f'data-event-id="{d["event_id"]}"' in resp.text
    assert "The object store cannot link the frame." in resp.text
    assert "The object store is unavailable." in resp.text


def test_photo_links_are_for_their_user_only(login: Callable[[str], TestClient],
                                             ports: ConsolePorts, settings: Settings,
                                             make_decision: MakeDecision,
                                             csrf_of: Callable[[str], str]) -> None:
    client = login("pat")
    _store_photos(ports, settings, "s-001")
    ports.source.push("gate.decisions", "Decision", make_decision())
    page = client.get("/review").text
    photo = page.split('class="enrolled"')[0].rsplit('src="', 1)[1].split('"')[0]
    client.post("/logout", data={"csrf": csrf_of(page)})
    assert client.get(photo).status_code == 401
    login("ada")
    assert client.get(photo).status_code == 404
    assert client.get(photo[:-3] + "xyz").status_code == 404


def test_not_enrolled_student_shows_why(login: Callable[[str], TestClient],
                                        ports: ConsolePorts, make_decision: MakeDecision) -> None:
    client = login("pat")
    ports.source.push("gate.decisions", "Decision",
                      make_decision(reason="NOT_ENROLLED", similarity=None, frame=False))
    page = client.get("/review").text
    assert "No enrolled photo for this student." in page
    assert "The frame could not be kept for review." in page


def test_verdict_button_flow(login: Callable[[str], TestClient], ports: ConsolePorts,
                             make_decision: MakeDecision,
                             csrf_of: Callable[[str], str]) -> None:
    client = login("pat")
    d = make_decision(exam="exam-7")
    ports.source.push("gate.decisions", "Decision", d)
    page = client.get("/review?exam=exam-7").text
    resp = client.post(f"/review/{d['event_id']}/verdict",
                       data={"csrf": csrf_of(page), "verdict": "DIFFERENT_PERSON",
                             "exam": "exam-7"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/review?exam=exam-7"
    after = client.get(resp.headers["location"]).text
    assert "Recorded “Different person” for s-001." in after
    assert f'data-event-id="{d["event_id"]}"' not in after
    feedback = ports.events.of("Feedback")
    assert [(f["decision_event_id"], f["verdict"], f["reviewer_id"]) for f in feedback] == [
        (d["event_id"], "DIFFERENT_PERSON", "pat")]


def test_verdict_without_csrf_is_refused(login: Callable[[str], TestClient],
                                         ports: ConsolePorts,
                                         make_decision: MakeDecision) -> None:
    client = login("pat")
    d = make_decision()
    ports.source.push("gate.decisions", "Decision", d)
    resp = client.post(f"/review/{d['event_id']}/verdict", data={"verdict": "SAME_PERSON"})
    assert resp.status_code == 403
    assert ports.events.of("Feedback") == []


def test_verdict_from_another_console_clears_the_item(login: Callable[[str], TestClient],
                                                      ports: ConsolePorts,
                                                      make_decision: MakeDecision) -> None:
    client = login("pat")
    d = make_decision()
    ports.source.push("gate.decisions", "Decision", d)
    ports.source.push("gate.feedback", "Feedback", _feedback(d["event_id"]))
    assert d["event_id"] not in client.get("/review").text


def test_dispute_button_flow(login: Callable[[str], TestClient], ports: ConsolePorts,
                             make_decision: MakeDecision,
                             csrf_of: Callable[[str], str]) -> None:
    client = login("pat")
    reject = make_decision("REJECT", reason="NO_MATCH", frame=False, similarity=0.12)
    ports.source.push("gate.decisions", "Decision", reject)
    live = client.get("/live").text
    assert f'/decisions/{reject["event_id"]}/dispute' in live
    resp = client.post(f"/decisions/{reject['event_id']}/dispute",
                       data={"csrf": csrf_of(live)})
    assert resp.status_code == 200 and "is in the review queue" in resp.text
    page = client.get("/review").text
    assert "Disputed by pat" in page
    assert "Only REVIEW decisions (and presentation attacks) keep the captured frame." in page
    assert [a["action"] for a in ports.events.of("AuditEvent")] == ["login", "dispute"]


def test_live_page_filters(login: Callable[[str], TestClient], ports: ConsolePorts,
                           make_decision: MakeDecision) -> None:
    client = login("pat")
    a, b = make_decision("ACCEPT", gate="north"), make_decision("ACCEPT", gate="south")
    for d in (a, b):
        ports.source.push("gate.decisions", "Decision", d)
    page = client.get("/live?gate=north").text
    assert a["event_id"] in page and b["event_id"] not in page
    assert '<option value="south">' in page
    rows = client.get("/live/rows?gate=south").text
    assert b["event_id"] in rows and a["event_id"] not in rows
