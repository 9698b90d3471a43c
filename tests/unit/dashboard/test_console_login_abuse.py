"""Console abuse: password guessing is throttled and Argon2 work is bounded (review finding 7)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

import dashboard.auth as auth_module
from dashboard.auth import Authenticator, LoginThrottle, TooManyAttempts
from dashboard.settings import ConsoleSettings

CsrfOf = Callable[[str], str]


def _attempt(client: TestClient, csrf_of: CsrfOf, username: str, password: str) -> int:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf": csrf_of(page.text), "next": "/review"},
                       follow_redirects=False).status_code


def test_guessing_locks_the_account_for_that_client(client: TestClient, csrf_of: CsrfOf,
                                                    passwords: dict[str, str]) -> None:
    """15 wrong passwords, then the right one: the right one is refused while locked."""
    codes = [_attempt(client, csrf_of, "pat", f"guess-{i}") for i in range(15)]
    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}
    assert _attempt(client, csrf_of, "pat", passwords["pat"]) == 429


def test_lockout_expires_and_success_clears_failures(console_settings: ConsoleSettings) -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_s=600, lockout_s=60,
                             clock=lambda: now[0])
    for _ in range(3):
        throttle.check("pat", "10.0.0.1")
        throttle.failed("pat", "10.0.0.1")
    with pytest.raises(TooManyAttempts) as locked:
        throttle.check("pat", "10.0.0.1")
    assert 0 < locked.value.retry_after_s <= 60
    throttle.check("pat", "10.0.0.2")  # another client is not locked out by this one
    now[0] += 61
    throttle.check("pat", "10.0.0.1")
    throttle.failed("pat", "10.0.0.1")
    with pytest.raises(TooManyAttempts):  # a repeat offender waits longer
        throttle.check("pat", "10.0.0.1")
    now[0] += 10_000
    throttle.succeeded("pat", "10.0.0.1")
    for _ in range(2):
        throttle.check("pat", "10.0.0.1")
        throttle.failed("pat", "10.0.0.1")
    throttle.check("pat", "10.0.0.1")


def test_one_client_spraying_many_names_is_throttled() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=600, lockout_s=60, per_client=10)
    for i in range(10):
        throttle.check(f"user{i}", "10.0.0.9")
        throttle.failed(f"user{i}", "10.0.0.9")
    with pytest.raises(TooManyAttempts):
        throttle.check("someone-else", "10.0.0.9")


def test_password_checks_run_a_bounded_number_at_a_time(
        console_settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Argon2 check takes 64 MiB: concurrent logins must queue, not pile up."""
    running, peak, lock = [0], [0], threading.Lock()

    def slow_verify(_hash: str, _password: str) -> bool:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(auth_module, "verify_password", slow_verify)
    auth = Authenticator(console_settings, max_concurrent_checks=2)
    threads = [threading.Thread(target=auth.authenticate, args=("pat", "x")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2
