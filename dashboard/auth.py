"""Who is logged in and what they may do: Argon2 passwords, signed sessions, roles, CSRF.

The session lives in a signed cookie (Starlette's SessionMiddleware); it holds the
username, the role at login and a per-session CSRF token that every POST form
echoes back. A session whose user was removed or changed role no longer counts.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from . import audit
from .ports import PublishError
from .settings import ConsoleSettings, ConsoleUser, exam_in_scope

log = logging.getLogger("examgate.console.auth")

PERMISSIONS: dict[str, frozenset[str]] = {
    "proctor": frozenset({"view", "review"}),
    "admin": frozenset({"view", "review", "admin"}),
}

_hasher = PasswordHasher()
SESSION_TARGET = "session:"  # the target of a logout's audit record: session:<id>


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` for the console's users list."""
    if not password:
        raise ValueError("the password must not be empty")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the username is unknown, so a wrong name costs as long as a
# wrong password and response times do not reveal who has an account.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    """A logged-in person."""

    username: str
    role: str
    display_name: str = ""
    exams: tuple[str, ...] = ()  # shell patterns; none: no exam at all (fail closed)

    @classmethod
    def of(cls, configured: ConsoleUser) -> User:
        """The logged-in form of a configured user, with their exams as configured now."""
        return cls(configured.username, configured.role, configured.display_name,
                   configured.exams)

    def can(self, permission: str) -> bool:
        """Whether this user's role grants ``permission`` (view, review, admin)."""
        return permission in PERMISSIONS.get(self.role, frozenset())

    def sees(self, exam_id: str) -> bool:
        """Whether this user may see and act on decisions of exam ``exam_id``."""
        return exam_in_scope(self.exams, exam_id)

    def sees_record(self, record: Mapping[str, Any]) -> bool:
        """Whether a decision (or anything with an exam_id) is of one of this user's exams."""
        exam = record.get("exam_id")
        return isinstance(exam, str) and self.sees(exam)

    @property
    def shown_name(self) -> str:
        """The name for the page header."""
        return self.display_name or self.username


class TooManyAttempts(Exception):
    """Login refused without checking the password: too many recent failures."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Failures:
    times: list[float]
    lockouts: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    """Locks out password guessing: per username and client, and per client over all names.

    Kept in the console's memory: with several replicas each keeps its own count, so a
    guesser gets at most ``max_failures`` tries per replica and lockout period.
    """

    def __init__(self, *, max_failures: int = 5, window_s: float = 900.0,
                 lockout_s: float = 300.0, per_client: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.per_client = per_client
        self._clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], _Failures] = {}

    def _keys(self, username: str, client: str) -> list[tuple[tuple[str, str], int]]:
        return [((username.lower(), client), self.max_failures), (("", client), self.per_client)]

    def check(self, username: str, client: str) -> None:
        """Raise TooManyAttempts while this username or client is locked out."""
        now = self._clock()
        with self._lock:
            for key, _limit in self._keys(username, client):
                entry = self._by_key.get(key)
                if entry is not None and entry.locked_until > now:
                    raise TooManyAttempts(entry.locked_until - now)

    def failed(self, username: str, client: str) -> None:
        """Count a wrong password; lock out (for longer each time) at the limit."""
        now = self._clock()
        with self._lock:
            for key, limit in self._keys(username, client):
                entry = self._by_key.setdefault(key, _Failures([]))
                entry.times = [t for t in entry.times if now - t < self.window_s] + [now]
                if entry.locked_until and now - entry.locked_until > self.window_s:
                    entry.lockouts = 0  # a quiet window forgives earlier lockouts
                if len(entry.times) >= limit or entry.lockouts and entry.locked_until <= now:
                    entry.locked_until = now + min(3600.0,
                                                   self.lockout_s * 2 ** entry.lockouts)
                    entry.lockouts += 1
                    entry.times.clear()
            if len(self._by_key) > 100_000:  # bounded memory under a spray
                stale = [k for k, e in self._by_key.items()
                         if e.locked_until <= now and not e.times]
                for k in stale:
                    del self._by_key[k]

    def succeeded(self, username: str, client: str) -> None:
        """A good login clears this username's count from this client."""
        with self._lock:
            self._by_key.pop((username.lower(), client), None)


class Authenticator:
    """Checks passwords and sessions against the configured users."""

    def __init__(self, console: ConsoleSettings, max_concurrent_checks: int | None = None
                 ) -> None:
        self._console = console
        # Each Argon2 check takes 64 MiB and a few cores for a moment: bound them.
        self._checks = threading.BoundedSemaphore(
            max_concurrent_checks or console.password_checks_at_once)
        # Session ids logged out (here, or on another replica: read from the audit topic),
        # each kept until no cookie naming it could still be young enough to count.
        self._revoked: dict[str, float] = {}
        self._issued: dict[str, float] = {}
        self._sessions_lock = threading.Lock()

    def start_session(self, user: User) -> dict[str, Any]:
        """The contents of a fresh session cookie for ``user``, with its own session id."""
        sid = secrets.token_urlsafe(16)
        now = time.time()
        with self._sessions_lock:
            self._issued = {s: t for s, t in self._issued.items()
                            if now - t <= self._console.session_max_age_s}
            self._issued[sid] = now
        return {"user": user.username, "role": user.role, "since": int(now), "sid": sid,
                "csrf": secrets.token_urlsafe(32)}

    def revoke(self, sid: str) -> None:
        """Make every copy of the cookie of session ``sid`` worthless."""
        now = time.time()
        with self._sessions_lock:
            horizon = self._console.session_max_age_s
            self._revoked = {s: t for s, t in self._revoked.items() if now - t <= horizon}
            self._revoked[sid] = now
            self._issued.pop(sid, None)

    def active_sessions(self) -> list[str]:
        """Ids of the sessions this replica started that are neither logged out nor old."""
        now = time.time()
        with self._sessions_lock:
            return [s for s, t in self._issued.items()
                    if now - t <= self._console.session_max_age_s and s not in self._revoked]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user whose name and password these are, or None."""
        user = self._console.user(username)
        with self._checks:
            if user is None:
                verify_password(_DUMMY_HASH, password)
                return None
            if not verify_password(user.password_hash.get_secret_value(), password):
                return None
        return User.of(user)

    def from_session(self, session: dict[str, Any], now: float | None = None) -> User | None:
        """The user a session belongs to, if that user still exists with the same role and
        the login is younger than ``session_max_age_s``."""
        name, role, since = session.get("user"), session.get("role"), session.get("since")
        sid = session.get("sid")
        if not isinstance(name, str) or not isinstance(role, str) or \
                not isinstance(since, int | float) or not isinstance(sid, str):
            return None
        with self._sessions_lock:
            if sid in self._revoked:
                return None
        # The cookie's own expiry slides with every request; this limit does not.
        if (time.time() if now is None else now) - since > self._console.session_max_age_s:
            return None
        user = self._console.user(name)
        if user is None or user.role != role:
            return None
        # The exams are read from the settings on every request, never from the cookie.
        return User.of(user)


class LoginRequired(Exception):
    """The request needs a logged-in user."""


class Forbidden(Exception):
    """The logged-in user's role does not allow this."""


class CsrfError(Exception):
    """A POST without the session's CSRF token."""


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str) -> None:
    """Raise CsrfError unless ``submitted`` is this session's CSRF token."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not secrets.compare_digest(expected, submitted or ""):
        raise CsrfError()


def current_user(request: Request) -> User:
    """Dependency: the logged-in user, else LoginRequired."""
    user = request.app.state.console.auth.from_session(request.session)
    if user is None:
        raise LoginRequired()
    return user


def require(permission: str):
    """Dependency factory: the logged-in user, if their role grants ``permission``."""

    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.can(permission):
            raise Forbidden()
        return user

    return dependency


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/review"
    return target


router = APIRouter()


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/review") -> Response:
    """The login form."""
    console = request.app.state.console
    if console.auth.from_session(request.session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return console.render(request, "login.html", None, next=safe_next(next))


@router.post("/login", include_in_schema=False)
def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=1024)] = "",
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/review"
          ) -> Response:
    """Check the password, start a fresh session, and audit the attempt either way."""
    console = request.app.state.console
    check_csrf(request, csrf)
    client = request.client.host if request.client else "?"
    name = username.strip()
    try:
        console.throttle.check(name, client)
    except TooManyAttempts as exc:
        log.warning("auth: login for %r from %s refused: locked out for %.0f s more",
                    name[:64], client, exc.retry_after_s)
        try:
            console.auditor.record(actor=name[:64], role="", action=audit.LOGIN_FAILED,
                                   detail=f"client={client} locked-out")
        except PublishError as err:
            log.error("auth: could not audit a refused login: %s", err)
        response = console.render(
            request, "login.html", None, status_code=429, next=safe_next(next),
            username=name[:64], error="Too many failed logins. Try again in "
                                      f"{max(1, round(exc.retry_after_s / 60))} minute(s).")
        response.headers["Retry-After"] = str(int(exc.retry_after_s) + 1)
        return response
    user = console.auth.authenticate(name, password)
    if user is None:
        console.throttle.failed(name, client)
        try:
            console.auditor.record(actor=username.strip()[:64], role="",
                                   action=audit.LOGIN_FAILED, detail=f"client={client}")
        except PublishError as exc:
            log.error("auth: could not audit a failed login: %s", exc)
        log.info("auth: failed login from %s", client)
        return console.render(request, "login.html", None, status_code=401,
                              next=safe_next(next), error="Wrong username or password.",
                              username=username.strip()[:64])
    try:
        console.auditor.record(actor=user.username, role=user.role, action=audit.LOGIN,
                               detail=f"client={client}")
    except PublishError as exc:
        # No audit record, no session: every action in the console must be accountable.
        log.error("auth: login of %s refused, audit log unavailable: %s", user.username, exc)
        return console.render(request, "login.html", None, status_code=503,
                              next=safe_next(next), username=user.username,
                              error="The audit log is unavailable, so nobody can log in "
                                    "right now. Try again in a minute.")
    console.throttle.succeeded(name, client)
    # A new session on login, so a cookie planted before it is worth nothing after.
    request.session.clear()
    request.session.update(console.auth.start_session(user))
    log.info("auth: %s (%s) logged in from %s", user.username, user.role, client)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: Annotated[User, Depends(current_user)],
           csrf: Annotated[str, Form()] = "") -> Response:
    """End the session; a logout is audited but never blocked by the audit log."""
    console = request.app.state.console
    check_csrf(request, csrf)
    sid = str(request.session.get("sid", ""))
    console.auth.revoke(sid)
    try:
        # Every replica reads the audit topic and revokes the session too.
        console.auditor.record(actor=user.username, role=user.role, action=audit.LOGOUT,
                               target=f"{SESSION_TARGET}{sid}")
    except PublishError as exc:
        log.error("auth: could not audit the logout of %s: %s", user.username, exc)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
