"""Where a run's parameters and metrics go: JSON lines always, MLflow when asked
(through the shared :class:`examgate.adapters.mlflow.MlflowRun`).

Only rank 0 gets a real tracker; other ranks get :class:`NullTracker`, so the
training loop never asks which rank it is before logging.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from examgate.adapters.mlflow import MlflowRun
from trainer.config import TrainConfig, config_record

LOG_FILE = "log.jsonl"


class Tracker(ABC):
    """Receives a run's parameters once and its metrics by step."""

    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's configuration."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record metrics at ``step``."""

    def log_artifact(self, path: Path) -> None:  # noqa: B027 - optional for backends
        """Attach a file to the run (backends without artifacts ignore it)."""

    def close(self, status: str = "FINISHED") -> None:  # noqa: B027 - optional for backends
        """End the run."""


class NullTracker(Tracker):
    """Drops everything (ranks other than 0)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Ignore."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Ignore."""


class JsonTracker(Tracker):
    """One JSON object per line, to stdout and to ``run_dir/log.jsonl``."""

    def __init__(self, run_dir: Path, echo: bool = True) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(run_dir / LOG_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._echo = echo

    def _write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=str)
        self._file.write(line + "\n")
        self._file.flush()
        if self._echo:
            print(line, file=sys.stdout, flush=True)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Write ``{"params": ...}``."""
        self._write({"params": dict(params)})

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Write ``{"step": n, ...metrics}``."""
        self._write({"step": step, **metrics})

    def close(self, status: str = "FINISHED") -> None:
        """Write the end status and close the file."""
        if not self._file.closed:
            self._write({"status": status})
            self._file.close()


class MlflowTracker(JsonTracker):
    """JSON lines plus an MLflow run (with system metrics when psutil is installed)."""

    def __init__(self, run_dir: Path, tracking_uri: str, experiment: str, run_name: str) -> None:
        super().__init__(run_dir)
        system = importlib.util.find_spec("psutil") is not None
        self.run = MlflowRun.start(tracking_uri, experiment, run_name, system_metrics=system)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Also log the parameters to MLflow (values as strings)."""
        super().log_params(params)
        self.run.params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Also log the finite numeric metrics to MLflow."""
        super().log_metrics(metrics, step)
        self.run.metrics(metrics, step=step)

    def log_artifact(self, path: Path) -> None:
        """Upload ``path`` to the run's artifacts."""
        self.run.artifact(path)

    def close(self, status: str = "FINISHED") -> None:
        """End the MLflow run with ``status``."""
        super().close(status)
        self.run.end(status)


def open_tracker(cfg: TrainConfig, is_main: bool) -> Tracker:
    """The tracker for this process, parameters already logged."""
    if not is_main:
        return NullTracker()
    if cfg.mlflow_tracking_uri:
        tracker: Tracker = MlflowTracker(cfg.run_dir, cfg.mlflow_tracking_uri,
                                         cfg.mlflow_experiment, cfg.name)
    else:
        tracker = JsonTracker(cfg.run_dir)
    tracker.log_params(config_record(cfg))
    return tracker
