"""Who is logged in and what they may do: Argon2 passwords, signed sessions, roles, CSRF.

The session lives in a signed cookie (Starlette's SessionMiddleware); it holds the
username, the role at login and a per-session CSRF token that every POST form
echoes back. A session whose user was removed or changed role no longer counts.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from . import audit
from .ports import PublishError
from .settings import ConsoleSettings

log = logging.getLogger("examgate.console.auth")

PERMISSIONS: dict[str, frozenset[str]] = {
    "proctor": frozenset({"view", "review"}),
    "admin": frozenset({"view", "review", "admin"}),
}

_hasher = PasswordHasher()


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

    def can(self, permission: str) -> bool:
        """Whether this user's role grants ``permission`` (view, review, admin)."""
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def shown_name(self) -> str:
        """The name for the page header."""
        return self.display_name or self.username


class Authenticator:
    """Checks passwords and sessions against the configured users."""

    def __init__(self, console: ConsoleSettings) -> None:
        self._console = console

    def authenticate(self, username: str, password: str) -> User | None:
        """The user whose name and password these are, or None."""
        user = self._console.user(username)
        if user is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(user.password_hash.get_secret_value(), password):
            return None
        return User(user.username, user.role, user.display_name)

    def from_session(self, session: dict[str, Any], now: float | None = None) -> User | None:
        """The user a session belongs to, if that user still exists with the same role and
        the login is younger than ``session_max_age_s``."""
        name, role, since = session.get("user"), session.get("role"), session.get("since")
        if not isinstance(name, str) or not isinstance(role, str) or \
                not isinstance(since, int | float):
            return None
        # The cookie's own expiry slides with every request; this limit does not.
        if (time.time() if now is None else now) - since > self._console.session_max_age_s:
            return None
        user = self._console.user(name)
        if user is None or user.role != role:
            return None
        return User(user.username, user.role, user.display_name)


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
    user = console.auth.authenticate(username.strip(), password)
    if user is None:
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
    # A new session on login, so a cookie planted before it is worth nothing after.
    request.session.clear()
    request.session.update({"user": user.username, "role": user.role,
                            "since": int(time.time()), "csrf": secrets.token_urlsafe(32)})
    log.info("auth: %s (%s) logged in from %s", user.username, user.role, client)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: Annotated[User, Depends(current_user)],
           csrf: Annotated[str, Form()] = "") -> Response:
    """End the session; a logout is audited but never blocked by the audit log."""
    console = request.app.state.console
    check_csrf(request, csrf)
    try:
        console.auditor.record(actor=user.username, role=user.role, action=audit.LOGOUT)
    except PublishError as exc:
        log.error("auth: could not audit the logout of %s: %s", user.username, exc)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
