"""Settings of how a new model version reaches the gates (staging, then canary): a section
of :class:`examgate.core.settings.Settings`.

It lives in its own module only to keep ``settings.py`` within the project's module size;
it is configured exactly like the sections there (frozen, unknown keys rejected, every
default validated) and is re-exported as ``examgate.core.settings.ReleaseSettings``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReleaseSettings(BaseModel):
    """The bounds a challenger must meet in staging, and how its canary is judged."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    require_staging: bool = Field(False, description=(
        "Refuse `models canary` for a version that has not passed staging (`models stage`). "
        "`environment: production` always refuses it; a laptop stack may skip staging."))
    staging_max_p99_ms: float = Field(150.0, gt=0, description=(
        "`bench e2e` in staging: the challenger's p99 from publish to readable decision "
        "must stay at or under this (the gate's budget with 4-frame bursts)."))
    staging_min_throughput: float = Field(0.95, gt=0, le=1, description=(
        "`bench e2e` in staging: decisions per second must reach this share of the rate "
        "offered (a model that cannot keep up builds a queue at the gates)."))
    staging_api_max_p99_ms: float = Field(250.0, gt=0, description=(
        "`bench api` in staging, when its results are given: p99 of a kiosk's request."))
    canary_fraction: float = Field(0.1, ge=0, le=1, description=(
        "Share of gates that decide with the challenger during its canary; it is scored in "
        "shadow everywhere."))
    canary_interval_s: float = Field(600.0, gt=0, description=(
        "`models canary --auto` judges the evidence this often: a rollback comes at most one "
        "interval after the evidence turns against the canary."))
    canary_max_s: float = Field(14 * 86_400.0, gt=0, description=(
        "`models canary --auto` ends a canary that showed no difference after this long: "
        "the challenger is retired and the champion stays (only a better model is "
        "promoted)."))
    canary_min_checkins: int = Field(500, ge=1, description=(
        "Paired check-ins (decided by one version, shadow-scored by the other) needed "
        "before a canary is judged better or worse."))
    canary_min_verdicts: int = Field(20, ge=0, description=(
        "Proctor verdicts among them needed before a canary is judged."))
    canary_review_margin: float = Field(0.01, ge=0, lt=1, description=(
        "A canary is better or worse on REVIEWs only when the difference of REVIEW rates on "
        "the same check-ins lies, with 95% confidence, wholly beyond this (0.01: a point)."))
    canary_max_latency_ratio: float = Field(1.5, gt=1, description=(
        "A canary whose p95 decision latency exceeds the champion's by more than this "
        "factor is rolled back."))
