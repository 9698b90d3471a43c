"""``examgate bench release``: a better and two worse challengers go through staging and
an automatic canary on live simulated traffic.

The run has its own topics, consumer group and registered models (production's and
staging's), so it never touches the demo's. Its models are the served networks with
different thresholds, which is how a retrained model's change shows at the gate:

* **last term's champion**: the accept threshold raised by ``--conservative``, so more
  genuine students wait for a proctor (REVIEW ``UNCERTAIN_MATCH``);
* **the better challenger**: the thresholds ``models bootstrap`` calibrates (FAR 1e-4);
* **the worse challenger**: an accept threshold of ``lax`` (miscalibrated), so some
  impostors would be ACCEPTed;
* **the stricter challenger**: an accept threshold of ``strict``, as a retrained model
  whose genuine scores came out lower would have: many more students wait for a proctor.

The lax one's harm is mostly hidden by the cohort check (an ACCEPT that another enrolled
student fits as well goes to REVIEW), so its canary may show no difference and be
retired; the stricter one's is plain, and is what shows the rollback end to end.

Each challenger is first run under ``bench e2e`` in staging as that registry's champion
and judged by ``models stage``; then it runs as canary (``--fraction`` of the gates) with
``models canary --auto`` judging the evidence every ``--interval`` seconds while gates
keep checking students in and proctors give verdicts on REVIEWs and REJECTs. Expected:
the worse one rolled back or retired, the stricter one rolled back, the better one
promoted, no check-in lost or decided twice.
These are synthetic models and people; the run exercises the delivery path, it does not
rate any model.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from examgate.adapters import factory as ports
from examgate.adapters.kafka import Topics, ensure_topics
from examgate.adapters.registry import ModelBundle, RegistryError
from examgate.core.codec import EventCodec
from examgate.core.settings import Settings, load_settings
from examgate.models.canary_analysis import CanaryRules
from simulator.driver import DecisionCollector, Workers, enroll_cohort, scoped_env, wait_for_group
from simulator.release_load import GATES, LiveTraffic, cohort

log = logging.getLogger("examgate.bench.release")
IMPOSTORS = 20  # people who are not enrolled, each claiming students' names in turn


@dataclass(frozen=True)
class ReleasePlan:
    """The sizes of one run."""

    students: int = 60
    rate: float = 8.0
    workers: int = 1
    fraction: float = 0.25
    interval_s: float = 30.0
    max_canary_s: float = 600.0
    min_checkins: int = 300
    min_verdicts: int = 20
    staging_rate: float = 5.0
    staging_s: float = 30.0
    staging_burst: int = 4
    conservative: float = 0.1
    lax: float = 0.2
    strict: float = 0.75
    staging_warmup_s: float = 5.0  # a fresh staging worker's first seconds, left out
    staging_max_p99_ms: float | None = None  # None: settings.release's bound


def _env(run: str, kind: str) -> dict[str, str]:
    env = {f"EXAMGATE_KAFKA__TOPICS__{k.upper()}": f"{kind}{run}.{k}"
           for k in ("checkins", "decisions", "enrollments", "feedback", "model_events")}
    env["EXAMGATE_KAFKA__PROCESSOR_GROUP"] = f"{kind}{run}-processors"
    env["EXAMGATE_MLFLOW__REGISTERED_MODEL"] = f"examgate-face-{kind}{run}"
    # Its versions are numbered 1, 2, 3 like every registry's: their templates (each
    # version's cohort) must not meet other registries' versions of the same number.
    env["EXAMGATE_REDIS__TEMPLATE_PREFIX"] = f"examgate:tpl-{kind}{run}"
    env["EXAMGATE_RELEASE__REQUIRE_STAGING"] = "true"
    env["EXAMGATE_CHECKIN__SINGLE_FRAME_GATES"] = json.dumps([GATES])
    return env


def _register(settings: Settings, base: ModelBundle, accept: float, name: str,
              alias: str | None = None) -> str:
    t = base.thresholds
    thresholds = replace(t, accept=accept, reject=min(t.reject, accept))
    return ports.model_registry(settings).register(
        detector=base.detector, embedder=base.embedder, files=base.files,
        thresholds=thresholds, spec=base.spec, experiment=settings.mlflow.experiment,
        alias=alias, run_name=name)


def stage_challenger(run: str, version: str, prod: Settings,
                     plan: ReleasePlan) -> dict[str, Any]:
    """Staging: production's ``version`` copied into staging's registry as its champion,
    under bench e2e there, then judged by ``models stage`` in production's registry."""
    from examgate.models.staging import stage
    from simulator.bench_e2e import run_e2e

    bundle = ports.model_registry(prod).load(version)
    with scoped_env(_env(f"{run}v{version}", "stg")):
        staging = load_settings()
        ensure_topics(staging.kafka, Topics.from_settings(staging.kafka.topics))
        _register(staging, bundle, bundle.thresholds.accept, f"staging-copy-v{version}",
                  alias="champion")
        e2e = run_e2e(staging, plan.staging_rate, plan.staging_s, 1, 30, 6, seed=11,
                      burst=plan.staging_burst, warmup_s=plan.staging_warmup_s)
    verdict = stage(prod, version, e2e, by="bench-release")
    return {"passed": verdict.passed, "reasons": list(verdict.reasons),
            "latency_ms_p99": e2e["latency_ms_p99"],
            "throughput_per_s": e2e["throughput_per_s"]}


def _canary(prod: Settings, version: str, plan: ReleasePlan) -> dict[str, Any]:
    from datetime import UTC, datetime

    from examgate.models.canary_auto import CanaryActions, run_auto_canary
    from examgate.models.promotion import canary

    began = datetime.now(UTC)
    clock0 = time.monotonic()
    canary(prod, version, plan.fraction)
    actions = CanaryActions()
    result = run_auto_canary(prod, version, rules=CanaryRules(plan.min_checkins,
                                                              plan.min_verdicts),
                             interval_s=plan.interval_s, max_s=plan.max_canary_s,
                             since=began, actions=actions)
    ev = result.evidence
    return {"version": version, "action": result.action, "reasons": list(result.reasons),
            "analyses": result.analyses, "canary_s": round(time.monotonic() - clock0, 1),
            "analysis_times_s": [round(t, 1) for t, _ in actions.on_analysis],
            "paired": ev.paired if ev else 0, "verdicts": ev.verdicts if ev else 0,
            "champion": ev.champion.as_record(0.95) if ev else None,
            "challenger": ev.challenger.as_record(0.95) if ev else None}


def run_release(settings: Settings, plan: ReleasePlan) -> dict[str, Any]:
    """The whole scenario; returns its report (see the module's docstring)."""
    from examgate.models.bootstrap import bootstrap

    base = ports.model_registry(settings).load(bootstrap(settings))
    run = uuid.uuid4().hex[:6]
    everyone = cohort(settings, plan.students + IMPOSTORS)
    people, outsiders = everyone[:plan.students], everyone[plan.students:]
    report: dict[str, Any] = {"plan": asdict(plan), "run": run, "synthetic": True}
    env = _env(run, "rel")
    if plan.staging_max_p99_ms is not None:
        env["EXAMGATE_RELEASE__STAGING_MAX_P99_MS"] = str(plan.staging_max_p99_ms)
    with scoped_env(env):
        prod = load_settings()
        ensure_topics(prod.kafka, Topics.from_settings(prod.kafka.topics))
        old = _register(prod, base, min(0.95, base.thresholds.accept + plan.conservative),
                        "last-term", alias="champion")
        better = _register(prod, base, base.thresholds.accept, "retrained-better")
        worse = _register(prod, base, plan.lax, "retrained-worse")
        stricter = _register(prod, base, max(plan.strict, base.thresholds.accept),
                             "retrained-stricter")
        report["versions"] = {"champion": old, "better": better, "worse": worse,
                              "stricter": stricter}
        challengers = (worse, stricter, better)
        report["staging"] = {v: stage_challenger(run, v, prod, plan) for v in challengers}
        try:  # an unstaged version never becomes canary
            from examgate.models.promotion import canary
            unstaged = _register(prod, base, base.thresholds.accept, "unstaged")
            canary(prod, unstaged, plan.fraction)
            report["unstaged_refused"] = False
        except RegistryError as exc:
            report["unstaged_refused"] = "not passed staging" in str(exc)
        logs = prod.stack.state_dir / "logs" / f"release-{run}"
        with Workers(prod, plan.workers, logs, first_metrics_port=9590, restart=True):
            wait_for_group(prod, plan.workers)
            report["enroll_failed"] = sorted(enroll_cohort(
                prod, [(n, photos[:1]) for n, photos in people], old))
            collector = DecisionCollector(prod, EventCodec())
            collector.start()
            if not collector.ready.wait(60):
                raise TimeoutError("the decision reader got no partitions in 60 s")
            traffic = LiveTraffic(prod, collector, people, plan.rate, outsiders)
            traffic.start()
            try:
                report["canaries"] = [_canary(prod, v, plan) for v in challengers
                                      if report["staging"][v]["passed"]]
            finally:
                traffic.stop()
                time.sleep(3)  # a late duplicate would arrive about now
                collector.stop()
        report["champion_after"] = ports.model_registry(prod).resolve("champion")
    report.update(_tally(traffic, collector, report["versions"]))
    return report


def _tally(traffic: LiveTraffic, collector: DecisionCollector,
           versions: dict[str, str]) -> dict[str, Any]:
    name = {v: k for k, v in versions.items()}
    decided = [o for o in traffic.outcomes if o.decision is not None]
    by = Counter(name.get(o.decision["model_version"], o.decision["model_version"])
                 for o in decided if o.decision)
    wrong = Counter(name.get(o.decision["model_version"], "?") for o in decided
                    if o.decision and o.probe.label["kind"] == "impostor"
                    and o.decision["outcome"] == "ACCEPT")
    return {"check_ins": len(traffic.outcomes), "decided": len(decided),
            "lost": len(traffic.outcomes) - len(decided), "duplicated": collector.duplicates,
            "decided_by": dict(by), "impostors_accepted_by": dict(wrong),
            "impostors": sum(o.probe.label["kind"] == "impostor" for o in traffic.outcomes),
            "proctor_verdicts": traffic.verdicts,
            # Students some version decided NOT_ENROLLED: only those whose photo failed at
            # enrollment, never one left without a template of the deciding version.
            "not_enrolled_students": sorted({o.probe.claimed_student_id for o in decided
                                             if o.decision
                                             and o.decision["reason"] == "NOT_ENROLLED"})}


def write(report: dict[str, Any], path: Path) -> None:
    """The report as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))

def print_report(report: dict[str, Any]) -> None:
    """The canaries as a table, then the traffic's totals."""
    from rich.console import Console
    from rich.table import Table

    names = {v: k for k, v in report["versions"].items()}
    table = Table(title="bench release: staging, then an automatic canary on live traffic")
    for col in ("challenger", "staging p99 ms", "staging", "canary", "analyses",
                "canary s", "paired", "verdicts", "REVIEW champion", "REVIEW challenger",
                "confirmed false accepts (ch/cp)"):
        table.add_column(col, justify="left" if col in ("challenger", "canary") else "right")
    canaries = {c["version"]: c for c in report.get("canaries", [])}
    for version, staged in report["staging"].items():
        c = canaries.get(version, {})
        ch, cp = c.get("champion") or {}, c.get("challenger") or {}
        table.add_row(
            f"{names[version]} (v{version})", f"{staged['latency_ms_p99']:.0f}",
            "passed" if staged["passed"] else "failed", c.get("action", "-"),
            str(c.get("analyses", "-")), str(c.get("canary_s", "-")), str(c.get("paired", "-")),
            str(c.get("verdicts", "-")),
            *(f"{100 * (e.get('review_rate') or 0):.1f}%" if e else "-" for e in (ch, cp)),
            f"{ch.get('confirmed_false_accepts', '-')}/{cp.get('confirmed_false_accepts', '-')}")
    Console(width=160).print(table)
    print(f"check-ins {report['check_ins']}, decided {report['decided']}, lost "
          f"{report['lost']}, duplicated {report['duplicated']}; decided by "
          f"{report['decided_by']}; impostors {report['impostors']}, ACCEPTed by "
          f"{report['impostors_accepted_by'] or 'none'}; proctor verdicts "
          f"{report['proctor_verdicts']}; champion now v{report['champion_after']} "
          f"(better v{report['versions']['better']}); unstaged version refused as canary: "
          f"{report['unstaged_refused']}")


def release(
    students: Annotated[int, typer.Option(help="Enrolled students (LFW people).")] = 60,
    rate: Annotated[float, typer.Option(help="Check-ins per second at the gates.")] = 8.0,
    workers: Annotated[int, typer.Option(help="Production processor workers.")] = 1,
    fraction: Annotated[float, typer.Option(help="Share of gates the canary decides.")] = 0.25,
    interval: Annotated[float, typer.Option(help="Seconds between canary analyses.")] = 30.0,
    max_canary: Annotated[float, typer.Option(help="Longest canary, seconds.")] = 600.0,
    min_checkins: Annotated[int, typer.Option(help="Paired check-ins to judge.")] = 300,
    min_verdicts: Annotated[int, typer.Option(help="Proctor verdicts to judge.")] = 20,
    staging_s: Annotated[float, typer.Option(help="Seconds of bench e2e in staging.")] = 30.0,
    staging_burst: Annotated[int, typer.Option(help="Burst frames in staging.")] = 4,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the report.")] =
        Path("results/release.json"),
) -> None:
    """A better and two worse challengers (a lax threshold, a strict one) through staging
    and an automatic canary on live simulated traffic: the worse ones should be rolled
    back (the lax one may be retired instead), the better one promoted, with no check-in
    lost or decided twice. Exit code 1 otherwise.

    Runs on the local stack (started first) on its own topics and registered models.
    """
    plan = ReleasePlan(students=students, rate=rate, workers=workers, fraction=fraction,
                       interval_s=interval, max_canary_s=max_canary, min_checkins=min_checkins,
                       min_verdicts=min_verdicts, staging_s=staging_s,
                       staging_burst=staging_burst)
    report = run_release(load_settings(), plan)
    write(report, json_out)
    print_report(report)
    typer.echo(f"written to {json_out}")
    raise typer.Exit(0 if release_went_right(report) else 1)


def release_went_right(report: dict[str, Any]) -> bool:
    """The worse challenger rolled back (or retired: the cohort check can hide a lax
    threshold's false accepts until its canary's time is up), the stricter rolled back,
    the better promoted, nothing lost or duplicated."""
    actions = {c["version"]: c["action"] for c in report.get("canaries", [])}
    v = report["versions"]
    return (actions.get(v["worse"]) in ("rollback", "retired")
            and actions.get(v["stricter"]) == "rollback"
            and actions.get(v["better"]) == "promote"
            and report["champion_after"] == v["better"] and report["lost"] == 0
            and report["duplicated"] == 0 and report["unstaged_refused"] is True
            and set(report["not_enrolled_students"]) <= set(report["enroll_failed"]))
