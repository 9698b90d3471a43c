"""The console's pages: live decisions, the review queue, the alerts, the admin view, images and
the stream.

Every page works without JavaScript (forms post and redirect back); the script
only adds the live updates from ``/stream`` and keyboard shortcuts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from . import audit, present
from .auth import User, check_csrf, csrf_token, require
from .enrolled import enrolled_panels
from .feed import Message, Subscription, is_alert, matches, sse_json, sse_stream
from .images import ImageUnavailable
from .ports import PublishError
from .review import VERDICTS, OutOfScope, QueueItem, ReviewError

log = logging.getLogger("examgate.console.web")

router = APIRouter(include_in_schema=False)

Viewer = Annotated[User, Depends(require("view"))]
Reviewer = Annotated[User, Depends(require("review"))]
Admin = Annotated[User, Depends(require("admin"))]
Exam = Annotated[str, Query(max_length=64)]
Gate = Annotated[str, Query(max_length=64)]

VERDICT_WORDS = {"SAME_PERSON": "Same person", "DIFFERENT_PERSON": "Different person",
                 "UNSURE": "Unsure"}


def _back(path: str, exam: str, gate: str) -> str:
    query = urlencode({k: v for k, v in (("exam", exam), ("gate", gate)) if v})
    return f"{path}?{query}" if query else path


def _flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [kind, text]


def _out_of_scope(request: Request, user: User, action: str, decision_id: str,
                  exc: OutOfScope) -> Response:
    """403 for an action on a decision of an exam the user is not assigned to; audited."""
    console = request.app.state.console
    log.warning("authz: %s (%s) was refused a %s on %s: exam %s is not one of theirs",
                user.username, user.role, action, decision_id, exc.exam_id)
    try:
        console.auditor.record(actor=user.username, role=user.role, action=audit.OUT_OF_SCOPE,
                               target=decision_id, detail=f"{action} exam={exc.exam_id}")
    except PublishError as err:  # the refusal stands either way; only its record is lost
        log.error("authz: could not audit the refusal of %s: %s", user.username, err)
    return console.render(request, "error.html", user, status_code=403,
                          heading="Not one of your exams",
                          message="This decision is of an exam you are not assigned to, so "
                                  "nothing was recorded. The exam office assigns exams.")


def _hidden(user: User, kind: str, d: dict[str, Any]) -> bool:
    """Whether ``d`` is of an exam the user may not see (asked for by id: worth a log line)."""
    if user.sees_record(d):
        return False
    log.warning("authz: %s asked for %s %s of exam %s, not one of theirs", user.username,
                kind, d["event_id"], d["exam_id"])
    return True


def evidence(request: Request, d: dict[str, Any], user: User) -> dict[str, Any]:
    """What a proctor looks at for one decision: the captured frame and its burst, the
    enrolled photos, the scores and the liveness evidence."""
    console = request.app.state.console
    return {
        "d": d, "item": None,
        "frame": console.links.frame(d, user.username),
        "burst": console.links.burst(d, user.username),
        "photos": console.links.enrolled(d["claimed_student_id"], user.username, d["exam_id"]),
        "quality": present.quality_rows(d.get("quality")),
        "failed": present.failed_checks(d.get("quality")),
        "scale": present.score_scale(d.get("similarity"), d.get("thresholds")),
        "liveness": present.liveness_view(d.get("liveness")),
    }


def card(request: Request, item: QueueItem, user: User) -> dict[str, Any]:
    """Everything one review card shows."""
    return {**evidence(request, item.decision, user), "item": item}


@router.get("/")
def home() -> Response:
    """The review queue is what a proctor is here for."""
    return RedirectResponse("/review", status_code=303)


@router.get("/live")
def live(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """Decisions as they happen, newest first."""
    console = request.app.state.console
    exams, gates = console.recent.facets(user.sees_record)
    return console.render(request, "live.html", user, page="live", exam=exam, gate=gate,
                          exams=exams, gates=gates,
                          decisions=console.recent.latest(user.sees_record, exam, gate))


@router.get("/live/rows")
def live_rows(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """The live table's rows alone (the script reloads them after a reconnect)."""
    console = request.app.state.console
    return console.render(request, "_rows.html", user, exam=exam, gate=gate,
                          decisions=console.recent.latest(user.sees_record, exam, gate))


@router.get("/review")
def review(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """The queue: captured frame beside the enrolled photo, and the verdict buttons."""
    console = request.app.state.console
    exams, gates = console.recent.facets(user.sees_record)
    cards = [card(request, i, user)
             for i in console.desk.queue.items(user.sees_record, exam, gate)]
    return console.render(request, "review.html", user, page="review", exam=exam, gate=gate,
                          exams=exams, gates=gates, cards=cards)


@router.get("/review/items")
def review_items(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """Every card of the queue alone (the script reloads them after a reconnect)."""
    console = request.app.state.console
    cards = [card(request, i, user)
             for i in console.desk.queue.items(user.sees_record, exam, gate)]
    return console.render(request, "_cards.html", user, exam=exam, gate=gate, cards=cards)


@router.get("/review/item/{decision_id}")
def review_item(request: Request, decision_id: str, user: Viewer, exam: Exam = "",
                gate: Gate = "") -> Response:
    """One card, with fresh image links (the script adds it when the queue grows)."""
    console = request.app.state.console
    item = console.desk.queue.get(decision_id)
    # Another exam's item answers like an unknown one: ids cannot be probed for existence.
    if item is None or _hidden(user, "review item", item.decision):
        return Response(status_code=404)
    return console.render(request, "_card.html", user, exam=exam, gate=gate,
                          c=card(request, item, user))


@router.post("/review/{decision_id}/verdict")
def verdict(request: Request, decision_id: str, user: Reviewer,
            verdict: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
            comment: Annotated[str, Form(max_length=2000)] = "",
            exam: Annotated[str, Form(max_length=64)] = "",
            gate: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Publish the reviewer's Feedback; the item leaves the queue."""
    console = request.app.state.console
    check_csrf(request, csrf)
    item = console.desk.queue.get(decision_id)
    try:
        console.desk.submit_verdict(actor=user.username, role=user.role,
                                    decision_id=decision_id, verdict=verdict,
                                    may_act=user.sees_record, comment=comment)
    except OutOfScope as exc:
        return _out_of_scope(request, user, "verdict", decision_id, exc)
    except ReviewError as exc:
        _flash(request, "error", str(exc))
    except PublishError as exc:
        log.error("review: verdict on %s by %s not published: %s", decision_id,
                  user.username, exc)
        _flash(request, "error", "The verdict could not be recorded (Kafka did not "
                                 "acknowledge it). The item is still in the queue; try again.")
    else:
        who = item.decision["claimed_student_id"] if item else decision_id
        _flash(request, "ok", f"Recorded “{VERDICT_WORDS[verdict]}” for {who}.")
    return RedirectResponse(_back("/review", exam, gate), status_code=303)


@router.post("/decisions/{decision_id}/dispute")
def dispute(request: Request, decision_id: str, user: Reviewer,
            csrf: Annotated[str, Form()] = "", note: Annotated[str, Form(max_length=2000)] = "",
            exam: Annotated[str, Form(max_length=64)] = "",
            gate: Annotated[str, Form(max_length=64)] = "",
            back: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Send a REJECT decision to the review queue (from the live table or an alert)."""
    console = request.app.state.console
    check_csrf(request, csrf)
    try:
        item = console.desk.dispute(actor=user.username, role=user.role,
                                    decision_id=decision_id, may_act=user.sees_record,
                                    note=note)
    except OutOfScope as exc:
        return _out_of_scope(request, user, "dispute", decision_id, exc)
    except ReviewError as exc:
        _flash(request, "error", str(exc))
    except PublishError as exc:
        log.error("review: dispute of %s by %s not audited: %s", decision_id, user.username,
                  exc)
        _flash(request, "error", "The dispute could not be recorded (the audit log is "
                                 "unavailable); try again.")
    else:
        _flash(request, "ok", f"The rejection of {item.decision['claimed_student_id']} is in "
                              "the review queue.")
    page = "/alerts" if back == "alerts" else "/live"
    return RedirectResponse(_back(page, exam, gate), status_code=303)


ALERTS_SHOWN = 50  # each card lists enrolled photos in the object store: keep the page quick


@router.get("/alerts")
def alerts(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """Presentation attacks, newest first, each with its frames and liveness evidence."""
    console = request.app.state.console
    exams, gates = console.recent.facets(user.sees_record)
    cards = [evidence(request, d, user) for d in
             console.alerts.latest(user.sees_record, exam, gate, limit=ALERTS_SHOWN)]
    return console.render(request, "alerts.html", user, page="alerts", exam=exam, gate=gate,
                          exams=exams, gates=gates, cards=cards)


@router.get("/alerts/items")
def alert_items(request: Request, user: Viewer, exam: Exam = "", gate: Gate = "") -> Response:
    """Every alert card alone (the script reloads them after a reconnect)."""
    console = request.app.state.console
    cards = [evidence(request, d, user) for d in
             console.alerts.latest(user.sees_record, exam, gate, limit=ALERTS_SHOWN)]
    return console.render(request, "_alerts.html", user, exam=exam, gate=gate, cards=cards)


@router.get("/alerts/item/{decision_id}")
def alert_item(request: Request, decision_id: str, user: Viewer, exam: Exam = "",
               gate: Gate = "") -> Response:
    """One alert card, with fresh image links (the script adds it when an attack comes in)."""
    console = request.app.state.console
    d = console.alerts.get(decision_id)
    if d is None or _hidden(user, "alert", d):
        return Response(status_code=404)
    return console.render(request, "_alert.html", user, exam=exam, gate=gate,
                          c=evidence(request, d, user))


@router.get("/img/{token}")
def image(request: Request, token: str, user: Viewer) -> Response:
    """An enrolled photo (decrypted here) or a proxied frame, for the user it was linked for,
    while its exam is one of theirs."""
    try:
        data, content_type = request.app.state.console.links.open(token, user.username,
                                                                  user.sees)
    except ImageUnavailable as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    return Response(data, media_type=content_type,
                    headers={"Cache-Control": "private, no-store"})


@router.get("/stream")
async def stream(request: Request, user: Viewer, exam: Exam = "",
                 gate: Gate = "") -> StreamingResponse:
    """Server-sent events: ``decision`` (a table row; an alert says so) and ``queue`` (an item
    came or went)."""
    console = request.app.state.console
    token = csrf_token(request)
    sub = console.hub.subscribe()

    def render(message: Message) -> str | None:
        return stream_event(console, user, message, exam=exam, gate=gate, csrf=token)

    def still_valid() -> bool:
        return console.auth.from_session(request.session) is not None

    async def body():
        try:
            async for chunk in _while_valid(sub, render, still_valid):
                yield chunk
        finally:
            console.hub.unsubscribe(sub)

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def stream_event(console: Any, user: User, message: Message, *, exam: str, gate: str,
                 csrf: str) -> str | None:
    """A stream message as ``user``'s SSE data; None when it is another exam's (whatever the
    filter asks for) or outside the page's ``exam`` and ``gate``."""
    data = message.data
    if not user.sees_record(data) or not matches(data, exam, gate):
        return None
    if message.kind == "decision":
        row = console.fragment("_row.html", user=user, csrf=csrf, d=data, exam=exam, gate=gate)
        payload: dict[str, Any] = {"event_id": data["event_id"], "row": row}
        if is_alert(data):
            payload.update(alert=True, alerts=console.alerts.count(user.sees_record))
        return sse_json(payload)
    # The queue's size as this user counts it: how busy other exams are is not theirs to see.
    return sse_json({**data, "size": console.desk.queue.count(user.sees_record)})


async def _while_valid(sub: Subscription, render: Callable[[Message], str | None],
                       valid: Callable[[], bool], heartbeat_s: float = 15.0
                       ) -> AsyncIterator[str]:
    """The stream's events while its session stays valid (not logged out, not too old); then
    a ``logout`` event, so the page goes to the login form, and the end of the stream."""
    async for chunk in sse_stream(sub, render, heartbeat_s):
        if not valid():
            yield "event: logout\ndata: {}\n\n"
            return
        yield chunk


@router.get("/admin")
def admin(request: Request, user: Admin) -> Response:
    """Users (with their exams) and settings, secrets left out; the feed's totals count
    every exam (numbers only, no decision is shown); the enrolled look-alikes."""
    console = request.app.state.console
    panels, missing = enrolled_panels(
        console.ports.templates, console.recent.latest(lambda d: True, limit=len(console.recent)))
    return console.render(request, "admin.html", user, page="admin", users=console.console.users,
                          feed=console.ports.source, streams=len(console.hub),
                          total_queued=len(console.desk.queue), recent_size=len(console.recent),
                          verdicts=VERDICTS, lookalikes=panels, lookalikes_missing=missing)


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Liveness and whether the Kafka feed is reading yet; nothing sensitive."""
    ready = request.app.state.console.ports.source.ready
    return JSONResponse({"status": "ok" if ready else "starting", "feed_ready": ready},
                        status_code=200 if ready else 503)
