"""The console's own typed, frozen settings: who may log in, the session secret, and limits.

Read once by :func:`load_console_settings` from ``EXAMGATE_CONSOLE_*`` environment
variables and an optional YAML or TOML file named by ``EXAMGATE_CONSOLE_CONFIG``
(environment wins). Users are a JSON list in ``EXAMGATE_CONSOLE_USERS`` or a
``users:`` list in the file, each with the exams they may see (none: nothing); make a
password hash with ``python -m dashboard hash-password``. Unknown keys, in the file or
as ``EXAMGATE_CONSOLE_*`` variables, are an error.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from examgate.core.settings import EnvOverFileSettings, SettingsError, read_settings_file

ENV_PREFIX = "EXAMGATE_CONSOLE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
Role = Literal["proctor", "admin"]
ExamPattern = Annotated[str, Field(min_length=1, max_length=64)]


class ConsoleSettingsError(ValueError):
    """The console's settings file or environment is invalid."""


def exam_in_scope(patterns: Iterable[str], exam_id: str) -> bool:
    """Whether ``exam_id`` matches one of the shell ``patterns`` (case-sensitive, like
    ``checkin.exam_gates``); no patterns match nothing."""
    return any(fnmatch.fnmatchcase(exam_id, p) for p in patterns)


class ConsoleUser(BaseModel):
    """Someone who may log in to the console."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
                          description="Login name; also the reviewer id on Feedback events.")
    role: Role = Field(description="proctor: live view and review; admin: also settings and "
                                   "users.")
    password_hash: SecretStr = Field(description="Argon2 hash from `python -m dashboard "
                                                 "hash-password`; never the password itself.")
    display_name: str = Field("", max_length=80, description="Shown in the header.")
    exams: tuple[ExamPattern, ...] = Field(
        (), description="The exams this user may see and act on: exam ids as shell patterns "
                        "(case-sensitive), e.g. [\"MATH101-*\", \"PHYS2*\"]; [\"*\"] is every "
                        "exam (the exam office). Without any the user sees NOTHING: a "
                        "forgotten setting must hide other exams' students, not show them. "
                        "Each page, the stream, every image link and every verdict or "
                        "dispute is checked against it; the role says what a user may do, "
                        "this says to which exams.")

    def sees(self, exam_id: str) -> bool:
        """Whether this user may see and act on decisions of exam ``exam_id``."""
        return exam_in_scope(self.exams, exam_id)

    @field_validator("password_hash")
    @classmethod
    def _is_argon2(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("$argon2"):
            raise ValueError("password_hash must be an Argon2 hash (python -m dashboard "
                             "hash-password), not a password")
        return value


class ConsoleSettings(EnvOverFileSettings):
    """Settings of the proctor review console."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      frozen=True, extra="forbid")

    users: tuple[ConsoleUser, ...] = Field((), description="Who may log in.")
    session_secret: SecretStr = Field(
        description="Signs session cookies and image links; at least 32 characters, e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'.")
    session_max_age_s: int = Field(8 * 3600, ge=60,
                                   description="A login lasts this long, active or not.")
    cookie_secure: bool = Field(False, description="Send the session cookie over HTTPS only "
                                                   "(set it behind TLS).")
    recent_decisions: int = Field(500, ge=10, le=100_000,
                                  description="Decisions kept in memory for a page load.")
    lookback_hours: float = Field(
        12.0, ge=0,
        description="On start, replay this much of the decision, feedback and audit topics so "
                    "the review queue survives a restart; 0 reads from the latest only.")
    frame_link_ttl_s: int = Field(120, ge=10, le=3600,
                                  description="Lifetime of a captured frame's link.")
    photo_link_ttl_s: int = Field(120, ge=10, le=3600,
                                  description="Lifetime of an enrolled photo's link.")
    frame_links: Literal["presigned", "proxy"] = Field(
        "presigned",
        description="presigned: the browser fetches frames from the object store with a "
                    "short-lived link; proxy: through the console (object store not reachable "
                    "from proctors' browsers).")
    max_enrolled_photos: int = Field(3, ge=1, le=10, description="Enrolled photos shown per "
                                                                 "item.")
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords for one username from one client before that "
                             "pair is locked out for login_lockout_s.")
    login_max_failures_per_client: int = Field(
        20, ge=1, description="Wrong passwords from one client, any usernames, before the "
                              "client is locked out (stops a spray over many names).")
    login_window_s: int = Field(900, ge=10, description="Failures older than this are "
                                                        "forgotten.")
    login_lockout_s: int = Field(
        300, ge=1, description="First lockout; it doubles for each further lockout within "
                               "the window (up to an hour). A good login clears the count.")
    password_checks_at_once: int = Field(
        2, ge=1, le=64, description="Argon2 checks run at the same time (each takes 64 MiB); "
                                    "more logins wait their turn.")
    timezone: str = Field("UTC", description="IANA zone the times are shown in.")
    title: str = Field("ExamGate review console", max_length=80)

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("session_secret must be at least 32 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _unique_users(self) -> ConsoleSettings:
        names = [u.username.lower() for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate usernames: {', '.join(dupes)}")
        return self

    def user(self, username: str) -> ConsoleUser | None:
        """The configured user of that name (case-insensitive), or None."""
        wanted = username.lower()
        return next((u for u in self.users if u.username.lower() == wanted), None)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        return read_settings_file(path)
    except SettingsError as exc:
        raise ConsoleSettingsError(f"console {exc}") from exc


def _unknown_env_keys(environ: dict[str, str]) -> list[str]:
    """EXAMGATE_CONSOLE_* variables that name no setting (pydantic would ignore a typo)."""
    fields = {name.upper() for name in ConsoleSettings.model_fields}
    unknown = []
    for key in environ:
        if key.startswith(ENV_PREFIX) and key != CONFIG_ENV:
            top = key.removeprefix(ENV_PREFIX).split("__", 1)[0]
            if top not in fields:
                unknown.append(key)
    return sorted(unknown)


def load_console_settings(config_file: str | Path | None = None) -> ConsoleSettings:
    """Read the console settings from ``config_file`` (or ``$EXAMGATE_CONSOLE_CONFIG``) and env."""
    env = dict(os.environ)
    unknown = _unknown_env_keys(env)
    if unknown:
        raise ConsoleSettingsError(f"unknown console setting(s) in the environment: "
                                   f"{', '.join(unknown)}")
    path = config_file or env.get(CONFIG_ENV)
    data = _read_file(Path(path)) if path else {}
    try:
        return ConsoleSettings(**data)
    except ValidationError as exc:
        # Keep the messages, never the input values: they may be secrets.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                             for e in exc.errors())
        raise ConsoleSettingsError(f"invalid console settings: {problems}") from None
