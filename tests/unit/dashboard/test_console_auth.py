"""Console login: Argon2 hashes, sessions, roles, CSRF, and the audit record of each action."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from dashboard.auth import Authenticator, hash_password, safe_next, verify_password
from dashboard.memory import MemoryEventSink
from dashboard.ports import ConsolePorts
from dashboard.settings import ConsoleSettings
from examgate.core.settings import Settings

HTML = {"accept": "text/html"}
CsrfOf = Callable[[str], str]
Pw = dict[str, str]


def audits(ports: ConsolePorts) -> list[tuple[str, str, str]]:
    assert isinstance(ports.events, MemoryEventSink)
    return [(r["actor"], r["role"], r["action"]) for r in ports.events.of("AuditEvent")]


def test_hash_verifies_only_its_password() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "correct horsf")
    assert not verify_password("not a hash", "correct horse")
    with pytest.raises(ValueError):
        hash_password("")


def test_authenticator(console_settings: ConsoleSettings, passwords: Pw) -> None:
    auth = Authenticator(console_settings)
    user = auth.authenticate("PAT", passwords["pat"])
    assert user is not None and user.username == "pat" and user.role == "proctor"
    assert auth.authenticate("pat", passwords["ada"]) is None
    assert auth.authenticate("nobody", "x") is None
    now = time.time()
    session = auth.start_session(user)
    assert auth.from_session(session) == user
    # A role changed in the settings since login no longer counts.
    assert auth.from_session({**session, "role": "admin"}) is None
    assert auth.from_session({"user": "pat", "role": "proctor", "sid": "s"}) is None
    # A cookie without a session id (made before logouts could revoke one) no longer counts.
    assert auth.from_session({"user": "pat", "role": "proctor", "since": now}) is None
    auth.revoke(session["sid"])
    assert auth.from_session(session) is None
    assert auth.from_session({}) is None
    # Activity keeps the cookie alive, but not past the session's age limit.
    old = now - console_settings.session_max_age_s - 1
    assert auth.from_session({"user": "pat", "role": "proctor", "since": old,
                              "sid": "s"}) is None


def test_roles() -> None:
    from dashboard.auth import User

    assert User("p", "proctor").can("review") and not User("p", "proctor").can("admin")
    assert User("a", "admin").can("admin") and User("a", "admin").can("review")
    assert not User("x", "visitor").can("view")


def test_pages_need_login(client: TestClient) -> None:
    resp = client.get("/review?exam=e1", headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=%2Freview%3Fexam%3De1"
    assert client.get("/stream").status_code == 401
    assert client.get("/img/whatever").status_code == 401


def test_login_audits_and_starts_a_session(client: TestClient, ports: ConsolePorts,
                                           passwords: Pw, csrf_of: CsrfOf) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and "Log in" in page.text
    resp = client.post("/login", data={"username": "pat", "password": passwords["pat"],
                                       "csrf": csrf_of(page.text), "next": "/live"},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/live"
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/live").status_code == 200
    assert audits(ports) == [("pat", "proctor", "login")]
    record = ports.events.sent[0]
    assert record.topic == "audit.events" and record.key == "pat"


def test_wrong_password_is_refused_and_audited(client: TestClient, ports: ConsolePorts,
                                               csrf_of: CsrfOf) -> None:
    page = client.get("/login")
    resp = client.post("/login", data={"username": "pat", "password": "guess",
                                       "csrf": csrf_of(page.text)})
    assert resp.status_code == 401 and "Wrong username or password" in resp.text
    assert "guess" not in resp.text
    assert audits(ports) == [("pat", "", "login_failed")]
    assert client.get("/review", follow_redirects=False).status_code == 401


def test_login_without_csrf_token_is_refused(client: TestClient, ports: ConsolePorts,
                                             passwords: Pw) -> None:
    client.get("/login")
    resp = client.post("/login", data={"username": "pat", "password": passwords["pat"],
                                       "csrf": "forged"})
    assert resp.status_code == 403
    assert audits(ports) == []


def test_no_login_without_an_audit_log(client: TestClient, ports: ConsolePorts, passwords: Pw,
                                       csrf_of: CsrfOf) -> None:
    ports.events.fail = True
    page = client.get("/login")
    resp = client.post("/login", data={"username": "pat", "password": passwords["pat"],
                                       "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert resp.status_code == 503 and "audit log is unavailable" in resp.text
    assert client.get("/review", follow_redirects=False).status_code == 401


def test_proctor_cannot_open_admin(login: Callable[[str], TestClient]) -> None:
    client = login("pat")
    resp = client.get("/admin")
    assert resp.status_code == 403 and "Not for your role" in resp.text
    assert 'href="/admin"' not in client.get("/review").text


def test_admin_sees_users_but_no_secrets(login: Callable[[str], TestClient],
                                         console_settings: ConsoleSettings) -> None:
    client = login("ada")
    resp = client.get("/admin")
    assert resp.status_code == 200
    assert "pat" in resp.text and "proctor" in resp.text
    assert "$argon2" not in resp.text
    assert console_settings.session_secret.get_secret_value() not in resp.text


def test_logout_needs_csrf_and_is_audited(login: Callable[[str], TestClient],
                                          ports: ConsolePorts, csrf_of: CsrfOf) -> None:
    client = login("pat")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    token = csrf_of(client.get("/review").text)
    resp = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert audits(ports)[-1] == ("pat", "proctor", "logout")
    assert client.get("/review", follow_redirects=False).status_code == 401


def test_session_of_a_removed_user_is_void(settings: Settings, ports: ConsolePorts,
                                           console_settings: ConsoleSettings, passwords: Pw,
                                           csrf_of: CsrfOf) -> None:
    with TestClient(create_app(settings, console_settings, ports)) as c:
        page = c.get("/login")
        c.post("/login", data={"username": "pat", "password": passwords["pat"],
                               "csrf": csrf_of(page.text)})
        cookies = dict(c.cookies)
    fewer = console_settings.model_copy(update={"users": console_settings.users[1:]})
    with TestClient(create_app(settings, fewer, ports), cookies=cookies) as c:
        assert c.get("/review", follow_redirects=False).status_code == 401


def test_csrf_token_is_per_session(login: Callable[[str], TestClient],
                                   settings: Settings, console_settings: ConsoleSettings,
                                   ports: ConsolePorts, csrf_of: CsrfOf) -> None:
    mine = csrf_of(login("pat").get("/review").text)
    with TestClient(create_app(settings, console_settings, ports)) as other:
        assert csrf_of(other.get("/login").text) != mine


@pytest.mark.parametrize("target, expected", [
    ("/live?exam=e1", "/live?exam=e1"), ("https://evil.test/", "/review"),
    ("//evil.test/x", "/review"), ("/\\evil.test", "/review"), ("", "/review"),
])
def test_login_redirects_stay_on_site(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
