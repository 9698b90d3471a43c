"""Canary, promotion and rollback of face models, announced to the processors by ModelChanged.

A model version never decides before every enrolled student has a template of
its own (re-embedded from the encrypted enrollment photos): templates of one
version are never compared with probes of another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from rich.progress import track

from examgate.adapters import factory as ports
from examgate.adapters.kafka import EventPublisher
from examgate.adapters.registry import ModelRegistry, RegistryError
from examgate.core import events
from examgate.core.codec import EventCodec
from examgate.core.enrollment import Enroller, EnrollmentError
from examgate.core.settings import Settings
from examgate.models.analyzer import load_analyzer
from examgate.models.audit import record_audit
from examgate.models.canary_analysis import (
    CanaryRules,
    CanaryVerdict,
    Evidence,
    gather,
    judge_canary,
)

log = logging.getLogger("examgate.promotion")
PREVIOUS = "previous-champion"


@dataclass(frozen=True)
class ReembedReport:
    """Templates built for a version, and the students whose photos no longer qualify."""

    version: str
    built: int
    failed: tuple[str, ...]


def reembed_all(settings: Settings, version: str) -> ReembedReport:
    """Build templates of ``version`` for every student enrolled under the champion."""
    registry = ports.model_registry(settings)
    store = ports.template_store(settings)
    champion = registry.resolve("champion")
    analyzer = load_analyzer(settings, version)
    enroller = Enroller(store, ports.object_store(settings), ports.sealer(settings),
                        settings.object_store.bucket_enrollment,
                        settings.object_store.bucket_frames)
    students = store.students(champion)
    have = set(store.students(version))
    failed = []
    for sid in track([s for s in students if s not in have],
                     description=f"re-embedding templates for version {version}"):
        try:
            enroller.reembed(analyzer, sid)
        except (EnrollmentError, ValueError) as exc:
            failed.append(sid)
            log.warning("re-embed: %s has no usable photo for version %s: %s", sid, version, exc)
    built = len(set(store.students(version)) & set(students))
    log.info("re-embed: version %s has templates for %d of %d students", version, built,
             len(students))
    return ReembedReport(version, built, tuple(failed))


def _announce(settings: Settings, registry: ModelRegistry, alias: str, version: str,
              previous: str | None, canary_fraction: float = 0.0, by: str = "cli") -> None:
    publisher = EventPublisher(settings.kafka, EventCodec(), client_id="models-cli")
    publisher.publish(settings.kafka.topics.model_events, registry.model_name, "ModelChanged",
                      events.model_changed(model_name=registry.model_name, version=version,
                                           alias=alias, previous_version=previous,
                                           canary_fraction=canary_fraction, changed_by=by))
    report = publisher.flush()
    if report.failed:
        raise RuntimeError(f"the ModelChanged event was not delivered: {report.failed}")


def canary(settings: Settings, version: str, fraction: float) -> ReembedReport:
    """Make ``version`` the challenger: shadow-scored everywhere, deciding on ``fraction`` of
    gates, once its templates exist."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("the canary fraction must lie in [0, 1]")
    from examgate.models.staging import staging_passed, staging_required

    registry = ports.model_registry(settings)
    version = registry.resolve(version)
    if version == registry.resolve("champion"):
        raise ValueError(f"version {version} is already the champion")
    if staging_required(settings) and not staging_passed(registry, version):
        raise RegistryError(f"version {version} has not passed staging: run the benchmarks "
                            "against staging and `examgate models stage` first")
    report = reembed_all(settings, version)
    registry.set_alias("challenger", version)
    _announce(settings, registry, "challenger", version, None, fraction)
    log.info("canary: version %s is the challenger, deciding on %.0f%% of gates", version,
             100 * fraction)
    return report


def retire(settings: Settings, version: str | None = None, why: str = "") -> str:
    """End the canary of the challenger (or ``version``) without promoting it: the alias
    goes, the processors drop it, the champion decides everywhere. The version stays in
    the registry, tagged ``canary=retired`` with the reason."""
    registry = ports.model_registry(settings)
    aliases = registry.aliases()
    target = registry.resolve(version) if version else aliases.get("challenger")
    if target is None:
        raise RegistryError("no challenger to retire")
    if aliases.get("challenger") == target:
        registry.client.delete_registered_model_alias(registry.model_name, "challenger")
    registry.tag_version(target, "canary", "retired")
    registry.tag_version(target, "canary.reason", why[:4000])
    _announce(settings, registry, "challenger", "none", target)
    log.info("retire: version %s no longer runs as canary%s", target, f" ({why})" if why else "")
    return target


def promote(settings: Settings, version: str | None = None) -> str:
    """Make the challenger (or ``version``) the champion; the old one is kept for rollback."""
    registry = ports.model_registry(settings)
    aliases = registry.aliases()
    target = registry.resolve(version) if version else aliases.get("challenger")
    if target is None:
        raise RegistryError("no challenger to promote: run `examgate models canary` first")
    current = registry.resolve("champion")
    if target == current:
        return current
    report = reembed_all(settings, target)
    if report.failed:
        log.warning("promote: %d student(s) have no template for version %s and will get "
                    "NOT_ENROLLED (REVIEW) until re-enrolled", len(report.failed), target)
    registry.set_alias(PREVIOUS, current)
    registry.set_alias("champion", target)
    if aliases.get("challenger") == target:
        registry.client.delete_registered_model_alias(registry.model_name, "challenger")
    _announce(settings, registry, "champion", target, current)
    log.info("promote: champion is now version %s (was %s)", target, current)
    return target


def rollback(settings: Settings) -> str:
    """Return the champion alias to the version it had before the last promotion."""
    registry = ports.model_registry(settings)
    aliases = registry.aliases()
    previous = aliases.get(PREVIOUS)
    if previous is None:
        raise RegistryError("nothing to roll back to: no previous champion is recorded")
    current = registry.resolve("champion")
    # Photos changed since (a REPLACE drops the other versions' templates, they may have
    # been someone else's face): the previous version's templates are rebuilt from the
    # photos kept now before it decides again.
    report = reembed_all(settings, previous)
    if report.failed:
        log.warning("rollback: %d student(s) have no usable photo for version %s; their "
                    "check-ins go to REVIEW", len(report.failed), previous)
    registry.set_alias("champion", previous)
    registry.set_alias(PREVIOUS, current)
    _announce(settings, registry, "champion", previous, current)
    log.info("rollback: champion is version %s again (was %s)", previous, current)
    return previous


def analyse(settings: Settings, version: str | None = None,
            rules: CanaryRules | None = None, *, since: datetime | None = None,
            record: bool = True) -> tuple[Evidence, CanaryVerdict]:
    """Read the decisions (those decided at or after ``since``) and proctors' verdicts of the
    canary period and judge the challenger (or ``version``) against the champion; unless
    ``record`` is off, the analysis goes to MLflow and an AuditEvent says what came out."""
    from examgate.adapters.kafka import EventReader

    registry = ports.model_registry(settings)
    challenger = registry.resolve(version or "challenger")
    champion = registry.resolve("champion")
    topics = settings.kafka.topics
    records: dict[str, list[dict]] = {"Decision": [], "Feedback": []}
    # From the canary's start: a verdict on one of its decisions cannot be older than it.
    reader = EventReader(settings.kafka, EventCodec(), [topics.decisions, topics.feedback],
                         start_at=since)
    try:
        for item, _ in reader.events_until_now(timeout=600):
            if not isinstance(item, Exception) and item.name in records:
                records[item.name].append(item.record)
    finally:
        reader.close()
    decisions = [d for d in records["Decision"] if since is None or d["decided_at"] >= since]
    evidence = gather(decisions, records["Feedback"], champion, challenger)
    rules = rules or CanaryRules()
    verdict = judge_canary(evidence, rules)
    if record:
        record_analysis(settings, registry, evidence, verdict, rules)
    return evidence, verdict


def record_analysis(settings: Settings, registry: ModelRegistry, evidence: Evidence,
                    verdict: CanaryVerdict, rules: CanaryRules) -> None:
    """The analysis as an MLflow run ``canary-analysis-vN`` and an AuditEvent."""
    from examgate.adapters.mlflow import MlflowRun

    champion, challenger = evidence.champion.version, evidence.challenger.version
    with MlflowRun.start(settings.mlflow.tracking_uri, settings.mlflow.experiment,
                         f"canary-analysis-v{challenger}") as run:
        run.params({"champion": champion, "challenger": challenger,
                    **{f"rule.{k}": v for k, v in rules.__dict__.items()}})
        run.metrics({"paired": evidence.paired, "agreed": evidence.agreed,
                     "verdicts": evidence.verdicts})
        run.tag("verdict", verdict.action)
        run.tag("reasons", " | ".join(verdict.reasons))
    record_audit(settings, "models-cli", "canary_analysis", f"{registry.model_name} v{challenger}",
                 f"{verdict.action}: {'; '.join(verdict.reasons)}")
    log.info("canary analysis of version %s against %s: %s (%s)", challenger, champion,
             verdict.action, "; ".join(verdict.reasons))
