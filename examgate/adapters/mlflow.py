"""MLflow at the edge: one client factory and one run tracker for every writer of runs.

The trainer, the retrain loop, the model registry and the simulator all log
through :class:`MlflowRun`. It talks to the tracking server through an
explicit :class:`mlflow.MlflowClient` and a run id, never through the fluent
API's process-global active run, so one process may hold several runs at once
(the retrain run stays open while the registry logs the registration run).

    with MlflowRun.start(uri, "examgate-retrain", "retrain-1") as run:
        run.params({"steps": 2})
        run.metrics(flatten({"candidate": {"tar": 0.98}}))
        run.artifact(Path("gate_report.md"), "gates")

Leaving the block ends the run FINISHED, or FAILED (with an ``error`` tag)
when an exception escapes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

log = logging.getLogger("examgate.mlflow")
MAX_PARAM_LENGTH = 500  # the limit older tracking servers enforce; longer values are cut
MAX_TAG_LENGTH = 500


def mlflow_client(tracking_uri: str) -> MlflowClient:
    """The client for a tracking server that is also its model registry."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def flatten(doc: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, float]:
    """The numbers among ``doc``'s leaves, nested keys joined by ``sep`` under ``prefix``.

    ``flatten({"clean": {"far": 0.1}, "n": 3}, "candidate")`` is
    ``{"candidate.clean.far": 0.1, "candidate.n": 3.0}``; strings, booleans and
    None are left out.
    """
    out: dict[str, float] = {}
    for k, v in doc.items():
        key = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key, sep))
        elif _is_number(v):
            out[key] = float(v)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MlflowRun:
    """One MLflow run: parameters, metrics, tags and artifacts, then an end status."""

    def __init__(self, client: MlflowClient, run_id: str,
                 monitor: SystemMetricsMonitor | None = None) -> None:
        self.client = client
        self.run_id = run_id
        self._monitor = monitor
        self._ended = False

    @classmethod
    def start(cls, tracking_uri: str, experiment: str, run_name: str, *,
              tags: Mapping[str, str] | None = None,
              system_metrics: bool = False) -> MlflowRun:
        """Open a run named ``run_name`` in ``experiment`` (created when missing).

        The run carries MLflow's usual context tags (user, source, git commit)
        as a fluent ``mlflow.start_run`` would. ``system_metrics`` samples CPU,
        memory and GPU into the run while it is open (needs psutil).
        """
        from mlflow.tracking.context.registry import resolve_tags

        client = mlflow_client(tracking_uri)
        experiment_id = _experiment_id(client, experiment)
        run = client.create_run(experiment_id, run_name=run_name,
                                tags=resolve_tags(dict(tags or {})))
        run_id = run.info.run_id
        monitor = _system_monitor(run_id, tracking_uri) if system_metrics else None
        return cls(client, run_id, monitor)

    def params(self, values: Mapping[str, Any]) -> None:
        """Log parameters, each value as a string (cut to :data:`MAX_PARAM_LENGTH`)."""
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in values.items()]
        if items:
            self.client.log_batch(self.run_id, params=items)

    def metrics(self, values: Mapping[str, Any], step: int = 0) -> None:
        """Log the finite numbers among ``values`` at ``step`` (anything else is skipped).

        One ``log_batch`` call, which MLflow splits into requests of its own limits.
        Nested dicts: pass them through :func:`flatten` first.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in values.items()
                 if _is_number(v) and math.isfinite(v)]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def tag(self, key: str, value: Any) -> None:
        """Set one tag (value as a string)."""
        self.client.set_tag(self.run_id, key, str(value))

    def tags(self, values: Mapping[str, Any]) -> None:
        """Set several tags at once."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in values.items()]
        if items:
            self.client.log_batch(self.run_id, tags=items)

    def artifact(self, path: Path, folder: str | None = None) -> None:
        """Upload a file (or a folder's contents) under ``folder`` of the run's artifacts."""
        if Path(path).is_dir():
            self.client.log_artifacts(self.run_id, str(path), folder)
        else:
            self.client.log_artifact(self.run_id, str(path), folder)

    def end(self, status: str = "FINISHED") -> None:
        """Close the run as FINISHED, FAILED or KILLED (later calls do nothing)."""
        if self._ended:
            return
        self._ended = True
        if self._monitor is not None:
            self._monitor.finish()
        self.client.set_terminated(self.run_id, status)

    def __enter__(self) -> MlflowRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.end("FINISHED")
            return
        try:
            self.tag("error", f"{type(exc).__name__}: {exc}"[:MAX_TAG_LENGTH])
        finally:
            self.end("FAILED")


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, creating it; a concurrent creator wins without error."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _system_monitor(run_id: str, tracking_uri: str) -> SystemMetricsMonitor | None:
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    try:
        monitor = SystemMetricsMonitor(run_id, tracking_uri=tracking_uri)
    except TypeError:  # an MLflow whose monitor only writes to the global tracking URI
        log.warning("system metrics are off: this MLflow cannot send them to %s", tracking_uri)
        return None
    monitor.start()
    return monitor
