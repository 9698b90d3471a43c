"""The FastAPI application: routes, limits and error shapes (the services come in a context).

Every refusal is JSON ``{"error": CODE, "detail": ...}`` with a 4xx status; a bad image
is a 422 with the reason read from its header, never a 500. Frames and templates are
never logged: event ids, client ids and outcomes are.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram, make_asgi_app

from examgate.core import events
from examgate.core.policy import second_look
from examgate.core.ports import TemplateStore, TemplateStoreError
from examgate.vision.errors import ImageDecodeError
from examgate.vision.image_header import read_header
from http_api.compare import compare_faces
from http_api.decisions import DecisionIndex
from http_api.guard import ApiError, RateLimiter, authenticate
from http_api.settings import ApiClient, ApiSettings

log = logging.getLogger("examgate.api")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
REQUESTS = Counter("examgate_api_requests_total", "API requests by route and status.",
                   ["route", "status"])
WAIT = Histogram("examgate_api_decision_wait_seconds",
                 "From publishing a check-in to answering with its decision.",
                 buckets=[0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5])
PUBLIC = ("event_id", "outcome", "reason", "reason_detail", "similarity", "thresholds",
          "model_version", "quality", "liveness", "gate_id", "exam_id",
          "claimed_student_id", "captured_at", "decided_at", "latency_ms")


@dataclass
class ApiContext:
    """What the routes use: settings, the publisher, the decision index, the champion."""

    settings: ApiSettings
    publish: Callable[[dict[str, Any]], None]  # a CheckIn record, delivered or raises
    index: DecisionIndex
    ready: Callable[[], str | None]  # None when ready, else why not
    analyzer: Callable[[], Any]  # the champion's FaceAnalyzer (loads on first use)
    templates: TemplateStore


def public(decision: dict[str, Any]) -> dict[str, Any]:
    """The part of a Decision a client sees (no stored-frame references), JSON-ready, with
    ``second_look`` when the kiosk may ask the student to turn and send a new burst."""
    out = {k: v.isoformat() if isinstance(v, datetime) else v
           for k, v in decision.items() if k in PUBLIC}
    look = second_look(decision)
    if look is not None:
        out["second_look"] = look
    return out


def _image(data: bytes, settings: ApiSettings, name: str) -> tuple[int, int]:
    """The image's size from its header; ApiError 422 for what is not a usable image."""
    try:
        header = read_header(data)
    except ImageDecodeError as exc:
        raise ApiError(422, "NOT_AN_IMAGE", f"{name}: {exc}") from exc
    if header.width * header.height > settings.max_image_pixels:
        raise ApiError(422, "IMAGE_TOO_LARGE", f"{name}: {header.width}x{header.height} px is "
                       f"over {settings.max_image_pixels} px")
    return header.width, header.height


def _checked_id(value: str, field: str) -> str:
    if not ID.match(value):
        raise ApiError(422, "INVALID_FIELD", f"{field} must be 1-128 letters, digits or ._:@-")
    return value


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``'s services."""
    s = ctx.settings
    limiter = RateLimiter(s.rate_per_s, s.rate_burst)
    app = FastAPI(title="ExamGate API", version="1",
                  description="Check-ins and face comparisons over HTTP; decisions are the "
                              "stream processors' own.")
    app.mount("/metrics", make_asgi_app())

    @app.exception_handler(ApiError)
    async def _refused(request: Request, exc: ApiError) -> JSONResponse:
        REQUESTS.labels(request.url.path.split("/")[2] if request.url.path.count("/") > 1
                        else request.url.path, str(exc.status)).inc()
        return JSONResponse({"error": exc.code, "detail": exc.detail}, exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "body"
                           for e in exc.errors())
        return JSONResponse({"error": "INVALID_FIELD", "detail": f"missing or invalid: "
                             f"{fields}"}, 422)

    @app.middleware("http")
    async def _bounded(request: Request, call_next: Callable) -> Any:
        if request.method in ("POST", "PUT"):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return JSONResponse({"error": "LENGTH_REQUIRED",
                                     "detail": "send Content-Length"}, 411)
            if int(length) > s.max_request_bytes:
                return JSONResponse({"error": "TOO_LARGE", "detail": f"{length} bytes is over "
                                     f"{s.max_request_bytes}"}, 413)
        return await call_next(request)

    def client(authorization: str | None) -> ApiClient:
        return authenticate(s, limiter, authorization)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        why = ctx.ready()
        return JSONResponse({"status": "ready" if why is None else why},
                            200 if why is None else 503)

    @app.post("/v1/checkins", summary="Check a student in at a gate and wait for the decision")
    async def checkin(
        student_id: Annotated[str, Form(description="The student id read from the card.")],
        gate_id: Annotated[str, Form(description="The gate (kiosk) the student stands at.")],
        exam_id: Annotated[str, Form(description="The exam being checked in for.")],
        frame: Annotated[list[UploadFile], File(description=(
            "The camera frame, then the burst (a live student's next frames) in order."))],
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        who = client(authorization)
        for value, field in ((student_id, "student_id"), (gate_id, "gate_id"),
                             (exam_id, "exam_id")):
            _checked_id(value, field)
        if not who.may_check_in(exam_id, gate_id):
            raise ApiError(403, "NOT_IN_SCOPE", f"client {who.id} may not check in at gate "
                           f"{gate_id} for exam {exam_id}")
        if len(frame) > s.max_frames:
            raise ApiError(422, "TOO_MANY_FRAMES", f"{len(frame)} frames; at most "
                           f"{s.max_frames}")
        data = [await f.read() for f in frame]
        width, height = _image(data[0], s, "frame 1")
        for i, d in enumerate(data[1:], 2):
            _image(d, s, f"frame {i}")
        record = events.checkin(
            gate_id=gate_id, exam_id=exam_id, claimed_student_id=student_id,
            frame=events.inline_frame(data[0]),
            extra_frames=[events.inline_frame(d) for d in data[1:]],
            camera_meta=events.camera(f"api:{who.id}", width, height, source="api"))
        event_id = record["event_id"]
        future = ctx.index.expect(event_id)  # registered before publishing
        try:
            await asyncio.to_thread(ctx.publish, record)
        except Exception as exc:  # noqa: BLE001 - the broker's error, said plainly
            ctx.index.forget(event_id, future)
            log.error("api: check-in %s from %s not published: %s", event_id, who.id, exc)
            raise ApiError(503, "KAFKA_UNAVAILABLE", "the check-in could not be published; "
                           "retry") from exc
        with WAIT.time():
            decision = await ctx.index.wait(event_id, future, s.decision_wait_s)
        if decision is None:
            REQUESTS.labels("checkins", "202").inc()
            log.info("api: %s from %s at %s: pending", event_id, who.id, gate_id)
            return JSONResponse({"event_id": event_id, "status": "pending",
                                 "poll": f"/v1/decisions/{event_id}"}, 202)
        REQUESTS.labels("checkins", "200").inc()
        log.info("api: %s from %s at %s: %s %s", event_id, who.id, gate_id,
                 decision["outcome"], decision["reason"])
        return JSONResponse(public(decision))

    @app.get("/v1/decisions/{event_id}", summary="A decision taken earlier (202 pending)")
    async def decision(event_id: str,
                       authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        who = client(authorization)
        found = ctx.index.get(event_id)
        # Another exam's decision reads as unknown: ids cannot be probed.
        if found is None or not who.may_check_in(found["exam_id"], found["gate_id"]):
            raise ApiError(404, "UNKNOWN_EVENT", f"no decision of {event_id} here (not yet "
                           f"taken, older than {s.decisions_kept_s:.0f} s, or not yours)")
        REQUESTS.labels("decisions", "200").inc()
        return JSONResponse(public(found))

    @app.post("/v1/compare", summary="Whether two photos show the same person")
    def compare(
        image_a: Annotated[UploadFile, File(description="The reference photo.")],
        image_b: Annotated[UploadFile, File(description="The photo compared with it.")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        who = client(authorization)
        if not who.compare:
            raise ApiError(403, "NOT_IN_SCOPE", f"client {who.id} may not compare faces")
        a, b = image_a.file.read(), image_b.file.read()
        _image(a, s, "image_a")
        _image(b, s, "image_b")
        analyzer = ctx.analyzer()
        if analyzer is None:
            raise ApiError(503, "MODEL_UNAVAILABLE", "no champion model is loaded yet")
        REQUESTS.labels("compare", "200").inc()
        return JSONResponse(compare_faces(analyzer, a, b))

    @app.get("/v1/students/{student_id}/enrollment", summary="Whether a student is enrolled")
    def enrollment(student_id: str,
                   authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        who = client(authorization)
        if not who.enrollment_status:
            raise ApiError(403, "NOT_IN_SCOPE", f"client {who.id} may not read enrollments")
        _checked_id(student_id, "student_id")
        try:
            versions = ctx.templates.versions(student_id)
        except TemplateStoreError as exc:
            raise ApiError(503, "TEMPLATE_STORE_UNAVAILABLE", str(exc)) from exc
        REQUESTS.labels("students", "200").inc()
        return JSONResponse({"student_id": student_id, "enrolled": bool(versions),
                             "model_versions": versions})

    return app
