"""The API's own typed, frozen settings: its clients (hashed tokens and scopes) and limits.

Read once by :func:`load_api_settings` from ``EXAMGATE_API_*`` environment variables
and an optional YAML or TOML file named by ``EXAMGATE_API_CONFIG`` (environment
wins). Clients are a JSON list in ``EXAMGATE_API_TOKENS`` (or ``tokens:`` in the
file); make a token and its hash with ``examgate api-token``. Unknown keys are an error.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from examgate.core.settings import EnvOverFileSettings, SettingsError, read_settings_file

ENV_PREFIX = "EXAMGATE_API_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
Pattern = Annotated[str, Field(min_length=1, max_length=64)]


class ApiSettingsError(ValueError):
    """The API's settings file or environment is invalid."""


def token_hash(token: str) -> str:
    """The SHA-256 (hex) a client's bearer token is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiClient(BaseModel):
    """A kiosk, tablet or system allowed to call the API, with what it may do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
                    description="Names the client in logs, metrics and each check-in's camera.")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description=(
        "SHA-256 (hex) of the client's bearer token: the token itself is never stored."))
    exams: tuple[Pattern, ...] = Field((), description=(
        "Exam ids (shell patterns) it may check students in for and read decisions of; "
        "none: nothing."))
    gates: tuple[Pattern, ...] = Field((), description=(
        "Gate ids (shell patterns) it may speak for; none: nothing."))
    compare: bool = Field(False, description="May call /v1/compare.")
    enrollment_status: bool = Field(False, description=(
        "May ask whether a student is enrolled (/v1/students/{id}/enrollment): a "
        "registrar's system, not a kiosk."))
    revoked: bool = Field(False, description="Refused as if unknown (kept for the record).")
    rate_per_s: float | None = Field(None, gt=0, description=(
        "This client's own rate (requests/s per replica); unset: the API's rate_per_s."))
    rate_burst: int | None = Field(None, ge=1, description=(
        "... and burst; unset: the API's rate_burst."))

    def may_check_in(self, exam_id: str, gate_id: str) -> bool:
        """Whether this client may speak for ``gate_id`` at exam ``exam_id``."""
        return (any(fnmatch.fnmatchcase(exam_id, p) for p in self.exams)
                and any(fnmatch.fnmatchcase(gate_id, p) for p in self.gates))


class ApiSettings(EnvOverFileSettings):
    """Settings of the HTTP API."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      frozen=True, extra="forbid")

    tokens: tuple[ApiClient, ...] = Field((), description="The clients and their scopes.")
    decision_wait_s: float = Field(2.0, gt=0, le=30, description=(
        "How long POST /v1/checkins waits for the decision before answering 202 with the "
        "event id to fetch it later."))
    decisions_kept: int = Field(20_000, ge=100, le=1_000_000, description=(
        "Decisions each replica keeps in memory for GET /v1/decisions (about 2 KB each)."))
    decisions_kept_s: float = Field(900.0, ge=10, description=(
        "... and for how long: a decision older than this is 404 (ask the console)."))
    rate_per_s: float = Field(5.0, gt=0, description=(
        "Requests per second each client may make on average (per replica)."))
    rate_burst: int = Field(20, ge=1, description="... and at once.")
    max_request_bytes: int = Field(8 * 1024 * 1024, ge=1024, description=(
        "Larger requests are refused (413) before they are read; a request must say its "
        "length (411 otherwise)."))
    max_frames: int = Field(9, ge=1, le=33, description=(
        "Frames per check-in at most: the primary and its burst."))
    max_image_pixels: int = Field(12_000_000, ge=1, description=(
        "An image whose header says more pixels is refused (422) before it is decoded."))

    @model_validator(mode="after")
    def _unique(self) -> ApiSettings:
        ids = [c.id for c in self.tokens]
        hashes = [c.token_sha256 for c in self.tokens]
        if len(set(ids)) != len(ids) or len(set(hashes)) != len(hashes):
            raise ValueError("client ids and token hashes must be unique")
        return self

    def client(self, token: str) -> ApiClient | None:
        """The unrevoked client whose token this is, or None."""
        digest = token_hash(token)
        found = next((c for c in self.tokens if c.token_sha256 == digest), None)
        return None if found is None or found.revoked else found


def load_api_settings(config_file: str | Path | None = None) -> ApiSettings:
    """Read the API settings from ``config_file`` (or ``$EXAMGATE_API_CONFIG``) and env."""
    env = dict(os.environ)
    fields = {name.upper() for name in ApiSettings.model_fields}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k != CONFIG_ENV
                     and k.removeprefix(ENV_PREFIX).split("__", 1)[0] not in fields)
    if unknown:
        raise ApiSettingsError(f"unknown API setting(s) in the environment: {', '.join(unknown)}")
    path = config_file or env.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    if path:
        try:
            data = read_settings_file(Path(path))
        except SettingsError as exc:
            raise ApiSettingsError(f"API {exc}") from exc
    try:
        return ApiSettings(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                             for e in exc.errors())
        raise ApiSettingsError(f"invalid API settings: {problems}") from None
