"""The staging step: a challenger carries real load before it may decide at any gate.

Staging is a copy of production's shape with its own registry, in which the challenger
under test is the champion (the processors always load the champion). There,
``examgate bench e2e`` (and ``examgate bench api``) write their numbers with the
fingerprint of the model that decided (the SHA-256 of its spec: file hashes, networks,
thresholds, rules), so results cannot be credited to another model. ``examgate models
stage VERSION --e2e FILE`` then checks them against ``settings.release``'s bounds and
tags the version in production's registry ``staging=passed`` or ``failed``, with an
MLflow run and an AuditEvent; ``examgate models canary`` refuses a version without
``passed`` when staging is required (always in production).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from examgate.adapters import factory as ports
from examgate.adapters.registry import ModelRegistry, RegistryError
from examgate.core.release_settings import ReleaseSettings
from examgate.core.settings import Settings

log = logging.getLogger("examgate.staging")
STAGING_TAG = "staging"
PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True)
class StagingVerdict:
    """Whether the challenger met the bounds, why not, and the numbers judged."""

    passed: bool
    reasons: tuple[str, ...]
    measures: dict[str, float]


def _judge_load(name: str, result: Mapping[str, Any], fingerprint: str, max_p99: float,
                problems: list[str], measures: dict[str, float]) -> None:
    """Checks common to both benchmarks: the right model, nothing lost, duplicated or
    failed, and the p99 bound."""
    ran = result.get("model_fingerprint")
    if ran != fingerprint:
        problems.append(f"bench {name} ran another model (fingerprint {str(ran)[:12]}, this "
                        f"version's is {fingerprint[:12]})")
    sent, decided = int(result.get("check_ins", 0)), int(result.get("decided", 0))
    if sent == 0:
        problems.append(f"bench {name} sent no check-ins")
    if decided < sent:
        problems.append(f"bench {name}: {sent - decided} of {sent} check-ins got no decision")
    for key in ("duplicates", "duplicated", "errors", "workers_lost"):
        if result.get(key):
            problems.append(f"bench {name}: {key} {result[key]}")
    p99 = result.get("latency_ms_p99")
    if p99 is None:
        problems.append(f"bench {name} measured no latency")
    else:
        measures[f"{name}_latency_ms_p99"] = float(p99)
        if float(p99) > max_p99:
            problems.append(f"bench {name}: p99 {float(p99):.0f} ms over the bound "
                            f"{max_p99:.0f} ms")


def judge_staging(e2e: Mapping[str, Any], api: Mapping[str, Any] | None, fingerprint: str,
                  bounds: ReleaseSettings) -> StagingVerdict:
    """Check staging's benchmark results of the model with ``fingerprint`` against the
    bounds: p99 latency, throughput against the rate offered, nothing lost or duplicated."""
    problems: list[str] = []
    measures: dict[str, float] = {}
    _judge_load("e2e", e2e, fingerprint, bounds.staging_max_p99_ms, problems, measures)
    rate, rps = float(e2e.get("rate") or 0), e2e.get("throughput_per_s")
    if rps is None or rate <= 0:
        problems.append("bench e2e measured no throughput")
    else:
        measures["e2e_throughput_per_s"] = float(rps)
        if float(rps) < bounds.staging_min_throughput * rate:
            problems.append(f"bench e2e: {float(rps):.1f} decisions/s for {rate:g} offered "
                            f"(bound {bounds.staging_min_throughput:.0%} of it)")
    if api is not None:
        _judge_load("api", api, fingerprint, bounds.staging_api_max_p99_ms, problems, measures)
    if problems:
        return StagingVerdict(False, tuple(problems), measures)
    return StagingVerdict(True, (
        "within bounds: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(measures.items())),),
        measures)


def staging_passed(registry: ModelRegistry, version: str) -> bool:
    """Whether ``version`` is tagged as having passed staging."""
    try:
        mv = registry.client.get_model_version(registry.model_name, version)
    except Exception as exc:  # noqa: BLE001 - MLflow raises RestException for "not found"
        raise RegistryError(f"{registry.model_name} v{version}: {exc}") from exc
    return dict(mv.tags).get(STAGING_TAG) == PASSED


def staging_required(settings: Settings) -> bool:
    """Production always stages; elsewhere ``release.require_staging`` says."""
    return settings.release.require_staging or settings.environment == "production"


def stage(settings: Settings, version: str, e2e: Mapping[str, Any],
          api: Mapping[str, Any] | None = None, by: str = "models-cli") -> StagingVerdict:
    """Judge staging's results for ``version`` of this registry, tag it, and record why."""
    from examgate.adapters.mlflow import MlflowRun
    from examgate.models.audit import record_audit

    registry = ports.model_registry(settings)
    version = registry.resolve(version)
    bundle = registry.load(version)
    verdict = judge_staging(e2e, api, bundle.fingerprint, settings.release)
    registry.tag_version(version, STAGING_TAG, PASSED if verdict.passed else FAILED)
    registry.tag_version(version, f"{STAGING_TAG}.reasons", " | ".join(verdict.reasons)[:4000])
    with MlflowRun.start(settings.mlflow.tracking_uri, settings.mlflow.experiment,
                         f"staging-v{version}") as run:
        run.params({"version": version, "fingerprint": bundle.fingerprint,
                    "max_p99_ms": settings.release.staging_max_p99_ms,
                    "min_throughput": settings.release.staging_min_throughput,
                    "api_max_p99_ms": settings.release.staging_api_max_p99_ms})
        run.metrics(verdict.measures)
        run.tag("verdict", PASSED if verdict.passed else FAILED)
        run.tag("reasons", " | ".join(verdict.reasons))
    record_audit(settings, by, "staging", f"{registry.model_name} v{version}",
                 f"{PASSED if verdict.passed else FAILED}: {'; '.join(verdict.reasons)}")
    log.info("staging of version %s: %s (%s)", version, PASSED if verdict.passed else FAILED,
             "; ".join(verdict.reasons))
    return verdict
