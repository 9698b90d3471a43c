"""Builds the console app from its settings and ports; no network I/O until it starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from examgate.core.codec import DecodedEvent
from examgate.core.settings import Settings

from . import audit, auth, present, web
from .audit import AUDIT_EVENT, Auditor
from .auth import (
    SESSION_TARGET,
    Authenticator,
    CsrfError,
    Forbidden,
    LoginRequired,
    LoginThrottle,
    User,
    csrf_token,
)
from .feed import Broadcaster, RecentDecisions, is_alert
from .images import ImageLinks
from .ports import ConsolePorts
from .review import ReviewDesk, ReviewQueue
from .settings import ConsoleSettings

log = logging.getLogger("examgate.console")

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "examgate_console"


@dataclass
class Console:
    """Everything a request handler needs, kept on ``app.state.console``."""

    settings: Settings
    console: ConsoleSettings
    ports: ConsolePorts
    auth: Authenticator
    throttle: LoginThrottle
    auditor: Auditor
    recent: RecentDecisions
    alerts: RecentDecisions  # presentation attacks, kept apart from the busy recent ring
    hub: Broadcaster
    desk: ReviewDesk
    links: ImageLinks
    templates: Jinja2Templates

    def deliver(self, topic: str, event: DecodedEvent) -> None:
        """Route one event read from Kafka to the part of the console it concerns."""
        topics = self.settings.kafka.topics
        if topic == topics.decisions and event.name == "Decision":
            if is_alert(event.record):  # before the stream tells browsers to fetch it
                self.alerts.add(event.record)
            self.desk.on_decision(event.record)
        elif topic == topics.feedback and event.name == "Feedback":
            self.desk.on_feedback(event.record)
        elif topic == topics.audit and event.name == AUDIT_EVENT:
            record = event.record
            if record["action"] == audit.LOGOUT and record["target"].startswith(SESSION_TARGET):
                self.auth.revoke(record["target"].removeprefix(SESSION_TARGET))
            self.desk.on_audit(record)

    def _context(self, user: User | None, extra: dict[str, Any]) -> dict[str, Any]:
        # The badges count the user's exams only; nobody logged in sees no numbers at all.
        queued = self.desk.queue.count(user.sees_record) if user else 0
        alerts = self.alerts.count(user.sees_record) if user else 0
        return {"title": self.console.title, "user": user, "queue_size": queued,
                "alert_count": alerts, "review_state": self.desk.queue.state,
                "exam": "", "gate": "", **extra}

    def render(self, request: Request, name: str, user: User | None, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
        """A page (``_name.html``: a fragment), with the session's CSRF token and, on a
        page, its flash message."""
        flash = None if name.startswith("_") else request.session.pop("flash", None)
        ctx = self._context(user, extra)
        ctx.update(flash=flash, csrf=csrf_token(request))
        return self.templates.TemplateResponse(request, name, ctx, status_code=status_code,
                                               headers={"Cache-Control": "no-store"})

    def fragment(self, name: str, user: User | None, **extra: Any) -> str:
        """A template rendered to a string (a table row for the stream)."""
        return self.templates.get_template(name).render(self._context(user, extra))


def _templates(zone: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters["clock"] = lambda when: present.clock(when, zone)
    env.filters["stamp"] = lambda when: present.stamp(when, zone)
    env.filters["label"] = present.label
    env.globals["is_alert"] = is_alert
    return templates


class SecurityHeaders:
    """Adds the headers that keep pages out of frames and scripts to our own files."""

    def __init__(self, app: ASGIApp, img_sources: str) -> None:
        self.app = app
        csp = (f"default-src 'self'; img-src 'self' {img_sources}; script-src 'self'; "
               "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
               "form-action 'self'; base-uri 'none'")
        self.headers = [(b"content-security-policy", csp.encode()),
                        (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                        # Presigned links must not leak to other sites in a Referer header.
                        (b"referrer-policy", b"no-referrer")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _object_store_origin(settings: Settings) -> str:
    s = settings.object_store
    return f"{'https' if s.secure else 'http'}://{s.endpoint}"


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return Response("login required", status_code=401, media_type="text/plain")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        console: Console = request.app.state.console
        user = console.auth.from_session(request.session)
        return console.render(request, "error.html", user, status_code=403,
                              heading="Not for your role",
                              message="This page is for console administrators.")

    @app.exception_handler(CsrfError)
    async def csrf_failed(request: Request, _exc: CsrfError) -> Response:
        console: Console = request.app.state.console
        user = console.auth.from_session(request.session)
        log.warning("console: a form without a valid CSRF token was refused (%s)",
                    request.url.path)
        return console.render(request, "error.html", user, status_code=403,
                              heading="The form has expired",
                              message="Nothing was recorded. Go back, reload the page and "
                                      "try again.")


def create_app(settings: Settings, console_settings: ConsoleSettings,
               ports: ConsolePorts) -> FastAPI:
    """The console as an ASGI app; its Kafka reader starts with the app's lifespan."""
    recent = RecentDecisions(console_settings.recent_decisions)
    hub = Broadcaster()
    auditor = Auditor(ports.events, settings.kafka.topics.audit)
    secret = console_settings.session_secret.get_secret_value()
    console = Console(
        settings=settings, console=console_settings, ports=ports,
        auth=Authenticator(console_settings),
        throttle=LoginThrottle(max_failures=console_settings.login_max_failures,
                               window_s=console_settings.login_window_s,
                               lockout_s=console_settings.login_lockout_s,
                               per_client=console_settings.login_max_failures_per_client),
        auditor=auditor, recent=recent,
        alerts=RecentDecisions(console_settings.recent_decisions), hub=hub,
        desk=ReviewDesk(ReviewQueue(), recent, hub, ports.events, auditor,
                        settings.kafka.topics),
        links=ImageLinks(ports.objects, ports.sealer, secret,
                         enrollment_bucket=settings.object_store.bucket_enrollment,
                         frame_ttl_s=console_settings.frame_link_ttl_s,
                         photo_ttl_s=console_settings.photo_link_ttl_s,
                         frame_mode=console_settings.frame_links,
                         max_photos=console_settings.max_enrolled_photos),
        templates=_templates(console_settings.timezone),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ports.source.start(console.deliver)
        log.info("console: %d user(s) configured; reading decisions from %s",
                 len(console_settings.users), settings.kafka.topics.decisions)
        try:
            yield
        finally:
            hub.close_all()
            ports.source.stop()
            ports.events.close()

    app = FastAPI(title=console_settings.title, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.console = console
    img_sources = "" if console_settings.frame_links == "proxy" else \
        _object_store_origin(settings)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=console_settings.session_max_age_s, same_site="strict",
                       https_only=console_settings.cookie_secure)
    app.add_middleware(SecurityHeaders, img_sources=img_sources)
    _install_error_pages(app)
    app.include_router(auth.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
