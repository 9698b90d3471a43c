"""Console settings from env and file, unknown keys refused, secrets kept out of messages;
and the ``python -m dashboard`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.settings import ConsoleSettingsError, load_console_settings

SECRET = "a-session-secret-of-at-least-32-chars!"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("EXAMGATE_CONSOLE_"):
            monkeypatch.delenv(key)


def _users(password_hashes: dict[str, str]) -> list[dict[str, str]]:
    return [{"username": "pat", "role": "proctor", "password_hash": password_hashes["pat"]},
            {"username": "ada", "role": "admin", "password_hash": password_hashes["ada"]}]


def test_users_from_env_json(monkeypatch: pytest.MonkeyPatch,
                             password_hashes: dict[str, str]) -> None:
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS", json.dumps(_users(password_hashes)))
    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET", SECRET)
    monkeypatch.setenv("EXAMGATE_CONSOLE_LOOKBACK_HOURS", "2")
    s = load_console_settings()
    assert [u.username for u in s.users] == ["pat", "ada"]
    assert s.lookback_hours == 2 and s.user("ADA").role == "admin"
    assert SECRET not in repr(s) and "$argon2" not in repr(s)


def test_file_with_env_winning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               password_hashes: dict[str, str]) -> None:
    import yaml

    path = tmp_path / "console.yaml"
    path.write_text(yaml.safe_dump({"users": _users(password_hashes), "session_secret": SECRET,
                                    "timezone": "Europe/Prague", "recent_decisions": 50}))
    monkeypatch.setenv("EXAMGATE_CONSOLE_RECENT_DECISIONS", "80")
    s = load_console_settings(path)
    assert s.timezone == "Europe/Prague" and s.recent_decisions == 80
    monkeypatch.setenv("EXAMGATE_CONSOLE_CONFIG", str(path))
    assert load_console_settings().timezone == "Europe/Prague"


def test_unknown_keys_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "console.toml"
    path.write_text(f'session_secret = "{SECRET}"\nsesion_max_age_s = 5\n')
    with pytest.raises(ConsoleSettingsError, match="sesion_max_age_s"):
        load_console_settings(path)
    path.write_text(f'session_secret = "{SECRET}"\n')
    monkeypatch.setenv("EXAMGATE_CONSOLE_USER", "[]")
    with pytest.raises(ConsoleSettingsError, match="EXAMGATE_CONSOLE_USER"):
        load_console_settings(path)


def test_errors_never_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET", "short-but-secret")
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS", json.dumps(
        [{"username": "pat", "role": "proctor", "password_hash": "hunter2"}]))
    with pytest.raises(ConsoleSettingsError) as err:
        load_console_settings()
    message = str(err.value)
    assert "session_secret" in message and "password_hash" in message
    assert "short-but-secret" not in message and "hunter2" not in message


@pytest.mark.parametrize("change, problem", [
    ({"role": "superuser"}, "role"),
    ({"username": "pat smith"}, "username"),
])
def test_bad_users_are_refused(monkeypatch: pytest.MonkeyPatch, password_hashes: dict[str, str],
                               change: dict[str, str], problem: str) -> None:
    user = dict(_users(password_hashes)[0], **change)
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS", json.dumps([user]))
    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET", SECRET)
    with pytest.raises(ConsoleSettingsError, match=problem):
        load_console_settings()


def test_duplicate_users_and_unknown_zone(monkeypatch: pytest.MonkeyPatch,
                                          password_hashes: dict[str, str]) -> None:
    users = _users(password_hashes)
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS",
                       json.dumps([users[0], dict(users[1], username="PAT")]))
    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET", SECRET)
    with pytest.raises(ConsoleSettingsError, match="duplicate usernames: pat"):
        load_console_settings()
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS", json.dumps(users))
    monkeypatch.setenv("EXAMGATE_CONSOLE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConsoleSettingsError, match="time zone"):
        load_console_settings()


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET", SECRET)
    s = load_console_settings()
    with pytest.raises(ValidationError):
        s.title = "changed"  # type: ignore[misc]


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_hash_password_command() -> None:
    from dashboard.auth import verify_password

    done = _cli("hash-password", "--stdin", stdin="s3cret pass\n")
    assert done.returncode == 0, done.stderr
    assert verify_password(done.stdout.strip(), "s3cret pass")
    assert "s3cret" not in done.stdout


def test_serve_help_and_bad_settings() -> None:
    done = _cli("serve", "--help")
    assert done.returncode == 0 and "--port" in done.stdout and "--console-config" in done.stdout
    done = _cli("serve", "--console-config", "/nonexistent/console.yaml")
    assert done.returncode == 2 and "console settings file not found" in done.stderr
