"""Registering a challenger: the only place the retrain loop writes to the model registry.

The new version keeps the champion's detector, liveness models and spec (input,
alignment, flip, liveness thresholds) and carries its own embedder, thresholds,
the provenance of its training and every gate's verdict, so a reader of the
registry alone can tell where a version came from and why it was let in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examgate.adapters.registry import ModelBundle, ModelRegistry
from examgate.core.policy import Thresholds
from trainer.gates import GateReport

SERVING_KEYS = ("detector", "embedder", "files", "thresholds")  # written anew per version


@dataclass(frozen=True)
class Challenger:
    """A candidate that passed every gate, and what the registry records about it."""

    embedder: Path
    thresholds: Thresholds
    training: dict[str, Any]  # identities, run_id, config, steps, parent/feedback version, targets
    report: GateReport
    metrics: dict[str, float]  # the candidate's measures, flattened


def challenger_spec(champion: ModelBundle, challenger: Challenger) -> dict[str, Any]:
    """The version's spec: the champion's, plus training provenance and the gate results."""
    base = {k: v for k, v in champion.spec.items() if k not in SERVING_KEYS}
    return {**base, "training": challenger.training,
            "gates": [r.__dict__ for r in challenger.report.results]}


def register_challenger(registry: ModelRegistry, champion: ModelBundle, challenger: Challenger,
                        *, experiment: str, alias: str, run_name: str) -> str:
    """Register ``challenger`` beside the champion's detector under ``alias``; its version."""
    version = registry.register(
        detector=champion.detector, embedder=champion.embedder,
        files={**champion.files, "embedder": challenger.embedder},
        thresholds=challenger.thresholds, spec=challenger_spec(champion, challenger),
        experiment=experiment, alias=alias, run_name=run_name, metrics=challenger.metrics)
    registry.tag_version(version, "retrain_run", str(challenger.training["run_id"]))
    return version
