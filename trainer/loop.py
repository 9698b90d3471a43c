"""Closing the loop: feedback, fine-tune, export, recalibrate, evaluate, gate, register.

:func:`retrain` runs every stage in one process and records them in one MLflow
run (parameters, training curve, evaluation, the gate report). A candidate
that passes every gate is registered with the ``challenger`` alias; one that
does not is explained, gate by gate, and stays on disk (its path tagged on the run).
On a CPU pass ``steps`` (and small batches through ``overrides``); on a GPU the
experiment's own settings apply.

The stages live beside this module: :mod:`trainer.trainset` (feedback and the
training set), :mod:`trainer.calibrate` (thresholds), :mod:`trainer.evaluate`
and :mod:`trainer.conditions` (measures), :mod:`trainer.gates` (verdicts),
:mod:`trainer.register` (the registry).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examgate.adapters.mlflow import MlflowRun, flatten
from examgate.adapters.registry import ModelBundle, ModelRegistry
from examgate.core.settings import Settings
from examgate.models.lfw import people as lfw_people
from trainer.conditions import conditions_in, evaluation_names, measure_conditions
from trainer.config import TrainConfig
from trainer.gates import GateReport, GateSettings, model_measures, run_gates
from trainer.run_privacy import (
    TRAIN_FACES,
    manifest_summary,
    purge_feedback_copies,
    split_identities,
)

log = logging.getLogger("trainer.loop")
REPORT_FILES = ("gate_report.json", "gate_report.md", "gate_report.html")


@dataclass(frozen=True)
class RetrainRequest:
    """What one :func:`retrain` run should do; the defaults register a challenger.

    ``feedback``: True builds a new feedback dataset version, an int reuses
    that version, False trains without feedback. ``targets``: conditions the
    run is for (augmented in training, gate (b)); None takes them from the
    feedback. ``candidate_onnx`` skips training and gates an embedder trained
    elsewhere; ``dry_run`` does everything but register.
    """

    config: str = "sface_finetune"  # trainer/config/NAME.py
    steps: int | None = None  # None: the config's
    feedback: bool | int = True
    overrides: tuple[str, ...] = ()  # config "field=value" strings
    targets: tuple[str, ...] | None = None
    gates: GateSettings = field(default_factory=GateSettings)
    candidate_onnx: Path | None = None
    eval_max_pairs: int | None = None  # a CPU run: evaluate on a subset of pairs
    calibration_max_images: int | None = None  # a CPU run: calibrate on fewer images
    threads: int = 2
    alias: str = "challenger"
    dry_run: bool = False
    run_name: str | None = None  # None: retrain-<config>-<time>

    def __post_init__(self) -> None:
        # Lists are welcome from callers; the request keeps tuples, so it stays immutable.
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if self.targets is not None:
            object.__setattr__(self, "targets", tuple(self.targets))


@dataclass(frozen=True)
class RetrainResult:
    """What :func:`retrain` did: ``registered`` (with the version), ``rejected`` (and why), or
    ``passed`` (a dry run that would have registered)."""

    status: str
    reason: str
    run_id: str | None
    version: str | None
    alias: str | None
    feedback_version: int | None
    report: GateReport | None
    run_dir: Path

    @property
    def registered(self) -> bool:
        """Whether a challenger was registered."""
        return self.status == "registered"


def retrain(settings: Settings, request: RetrainRequest) -> RetrainResult:
    """Fine-tune the champion on LFW training people + feedback, gate it, register it or say why.

    The MLflow run ends FINISHED (tagged with the outcome) or, when a stage
    raises, FAILED with the error tagged.
    """
    from examgate.adapters import factory
    from trainer.config import config_record, load_config

    name = request.run_name or f"retrain-{request.config}-{time.strftime('%Y%m%d-%H%M%S')}"
    registry = factory.model_registry(settings)
    champion = registry.load("champion")
    steps = [f"steps={request.steps}"] if request.steps else []
    cfg = load_config(request.config, [*request.overrides, *steps, f"name={name}",
                                       f"lfw_dir={settings.data.lfw_dir}",
                                       f"backbone_onnx={champion.files['embedder']}"])
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with MlflowRun.start(settings.mlflow.tracking_uri, f"{settings.mlflow.experiment}-retrain",
                         name) as run:
        run.params({**config_record(cfg), "champion_version": champion.version,
                    "alias": request.alias, "eval_max_pairs": request.eval_max_pairs,
                    "candidate_onnx": request.candidate_onnx,
                    "calibration_max_images": request.calibration_max_images})
        result = _run(settings, request, cfg, run, champion, registry)
        run.tag("outcome", result.status)
    log.info("retrain %s: %s", result.status, result.reason)
    return result


def _run(settings: Settings, request: RetrainRequest, cfg: TrainConfig, run: MlflowRun,
         champion: ModelBundle, registry: ModelRegistry) -> RetrainResult:
    from trainer.calibrate import calibrate_embedder
    from trainer.evaluate import evaluate
    from trainer.register import Challenger, register_challenger
    from trainer.trainset import fetch_feedback

    identities: tuple[str, ...] = ()
    students = 0
    candidate = request.candidate_onnx
    public = set(lfw_people(settings.data.lfw_dir))
    try:  # from the first frame mirrored on: whatever happens, no copy is left behind
        fb_version, manifest = fetch_feedback(settings, request.feedback, cfg.run_dir)
        if manifest is not None:  # the manifest names students: the tracker gets counts
            (cfg.run_dir / "feedback_summary.json").write_text(
                json.dumps(manifest_summary(manifest), default=str))
            run.artifact(cfg.run_dir / "feedback_summary.json")
        targets = (list(request.targets) if request.targets is not None
                   else conditions_in(manifest))
        run.params({"feedback_version": fb_version, "targets": ",".join(targets) or "-"})
        if candidate is None:
            candidate, trained_on = _train_and_export(cfg, run, manifest, targets)
            identities, students = split_identities(trained_on, public)
    finally:
        gone = purge_feedback_copies(cfg.run_dir, public)
        if gone:
            log.info("retrain: removed from the run folder: %s", ", ".join(gone))
    fit = calibrate_embedder(settings.data.lfw_dir, candidate, champion, cfg.cache_dir,
                             request.calibration_max_images, request.threads)
    thresholds = fit.thresholds
    run.metrics({f"candidate.{k}": v for k, v in {**fit.metrics,
                                                   **thresholds.as_record()}.items()})
    evaluation = evaluate(candidate, champion.files["embedder"], lfw_dir=cfg.lfw_dir,
                          eval_folds=cfg.eval_folds, training=identities,
                          cache_dir=cfg.cache_dir, max_pairs=request.eval_max_pairs,
                          threads=request.threads)
    _write(cfg.run_dir / "evaluation.json", evaluation, run)
    measured = measure_conditions(
        cfg, evaluation_names(cfg, identities, request.eval_max_pairs),
        {"champion": (champion.files["embedder"], champion.thresholds.accept),
         "candidate": (candidate, thresholds.accept)},
        flip=bool(champion.spec.get("flip_tta", False)), threads=request.threads)
    measures = {role: model_measures(evaluation[role], *measured[role], accept)
                for role, accept in (("champion", champion.thresholds.accept),
                                     ("candidate", thresholds.accept))}
    report = run_gates(measures["champion"], measures["candidate"], targets=targets,
                       settings=request.gates)
    for role, m in measures.items():
        run.metrics(flatten(m, role))
    run.metrics({f"gate.{r.gate}": float(r.status != "fail") for r in report.results})
    _write_report(report, cfg.run_dir, run)
    if not report.passed:
        run.tag("candidate_onnx", str(candidate))  # kept on disk, not in the tracker
        return RetrainResult("rejected", report.explain(), run.run_id, None, None, fb_version,
                             report, cfg.run_dir)
    if request.dry_run:
        return RetrainResult("passed", "dry run, not registered: " + report.explain(),
                             run.run_id, None, None, fb_version, report, cfg.run_dir)
    training = {"identities": sorted(identities), "feedback_identities": students,
                "run_id": run.run_id, "config": cfg.name,
                "steps": cfg.steps, "parent_version": champion.version,
                "feedback_version": fb_version, "targets": targets}
    challenger = Challenger(candidate, thresholds, training, report,
                            flatten(measures["candidate"]))
    version = register_challenger(registry, champion, challenger,
                                  experiment=settings.mlflow.experiment, alias=request.alias,
                                  run_name=cfg.name)
    run.tag("registered_version", version)
    return RetrainResult("registered", f"version {version} registered as {request.alias}: "
                         + report.explain(), run.run_id, version, request.alias, fb_version,
                         report, cfg.run_dir)


def _train_and_export(cfg: TrainConfig, run: MlflowRun, manifest: dict[str, Any] | None,
                      targets: Sequence[str]) -> tuple[Path, tuple[str, ...]]:
    """Fine-tune from the champion's weights, export to ONNX and prove parity."""
    from dataclasses import replace

    from trainer.export import check_parity, export_onnx, load_backbone, sample_faces
    from trainer.train import CHECKPOINT, train
    from trainer.trainset import training_set

    faces, info = training_set(cfg, manifest, targets)
    run.params(info)
    npz = cfg.run_dir / TRAIN_FACES
    faces.save(npz, eval_folds=list(cfg.eval_folds))
    summary = train(replace(cfg, crops_npz=npz, mlflow_tracking_uri=None))
    run.metrics({f"train.{k}": v for k, v in summary.items()})
    for line in (cfg.run_dir / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            run.metrics({"train.loss": rec["loss"], "train.lr": rec["lr"]}, step=rec["step"])
    backbone, _ = load_backbone(cfg.run_dir / CHECKPOINT)
    onnx_path = export_onnx(backbone, cfg.run_dir / "model.onnx",
                            metadata={"examgate.run": cfg.name, "examgate.backbone": cfg.backbone})
    parity = {"random": check_parity(backbone, onnx_path),
              "faces": check_parity(backbone, onnx_path, sample_faces(npz))}
    _write(cfg.run_dir / "export_parity.json", parity, run)
    npz.unlink()  # the crops are rebuilt from caches; the run folder keeps the model
    return onnx_path, faces.identities


def _write_report(report: GateReport, run_dir: Path, run: MlflowRun) -> None:
    """The gate report as JSON, Markdown and HTML, on disk and under the run's ``gates/``."""
    texts = (report.to_json(), report.to_markdown(), report.to_html())
    for file, text in zip(REPORT_FILES, texts, strict=True):
        (run_dir / file).write_text(text)
        run.artifact(run_dir / file, "gates")


def _write(path: Path, doc: Any, run: MlflowRun) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str))
    run.artifact(path)
