"""Closing the loop: feedback, fine-tune, export, recalibrate, evaluate, gate, register.

:func:`retrain` runs every stage in one process and records them in one MLflow
run (parameters, training curve, evaluation, the gate report). A candidate
that passes every gate is registered with the ``challenger`` alias; one that
does not is explained, gate by gate, and stays on disk (its path tagged on the run).
On a CPU pass ``steps`` (and small batches through ``overrides``); on a GPU the
experiment's own settings apply.

Conditions (masks, dim light) are drawn on already aligned held-out crops
with the simulator's seeded transforms, at the ArcFace landmark positions, so
the detector's behaviour on an altered frame (identical for both models) does
not blur what the embedder alone changes. Look-alikes are each held-out
image's three nearest other people under the champion, mined once and scored
by both models.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from examgate.settings import Settings
from trainer.gates import (
    GateReport,
    GateSettings,
    cross_rates,
    gender_rates,
    lookalike_pairs,
    model_measures,
    pair_rates,
    run_gates,
)

log = logging.getLogger("trainer.loop")
TRANSFORM_CONDITIONS = ("mask", "dim")  # drawn with simulator transforms of the same name
CONDITIONS = ("clean", *TRANSFORM_CONDITIONS, "lookalike")
REPORT_FILES = ("gate_report.json", "gate_report.md", "gate_report.html")


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


class RunLog:
    """One MLflow run through the client API, so the registry may open runs of its own."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id

    def params(self, values: dict[str, Any]) -> None:
        """Log parameters (as strings)."""
        from mlflow.entities import Param

        items = [Param(k, str(v)[:500]) for k, v in values.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def metrics(self, values: dict[str, Any], step: int = 0) -> None:
        """Log the finite numbers among ``values``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in values.items()
                 if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i:i + 500])

    def artifact(self, path: Path, folder: str | None = None) -> None:
        """Upload a file."""
        self.client.log_artifact(self.run_id, str(path), folder)

    def tag(self, key: str, value: str) -> None:
        """Set a tag."""
        self.client.set_tag(self.run_id, key, value)

    def end(self, status: str) -> None:
        """Close the run as FINISHED or FAILED."""
        self.client.set_terminated(self.run_id, status)


def retrain(settings: Settings, config_name: str = "sface_finetune", *,
            steps: int | None = None, feedback: bool | int = True,
            overrides: Sequence[str] = (), targets: Sequence[str] | None = None,
            gates: GateSettings | None = None, candidate_onnx: Path | None = None,
            eval_max_pairs: int | None = None, calibration_max_images: int | None = None,
            threads: int = 2, alias: str = "challenger", dry_run: bool = False,
            run_name: str | None = None) -> RetrainResult:
    """Fine-tune the champion on LFW training people + feedback, gate it, register it or say why.

    ``feedback``: True builds a new feedback dataset version, an int reuses that
    version, False trains without feedback. ``targets``: conditions the run is
    for (augmented in training, gate (b)); None takes them from the feedback.
    ``candidate_onnx`` skips training and gates an embedder trained elsewhere;
    ``dry_run`` does everything but register.
    """
    from examgate import ports
    from trainer.config import config_record, load_config

    name = run_name or f"retrain-{config_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    registry = ports.model_registry(settings)
    champion = registry.load("champion")
    cfg = load_config(config_name, [*overrides, *([f"steps={steps}"] if steps else []),
                                    f"name={name}", f"lfw_dir={settings.data.lfw_dir}",
                                    f"backbone_onnx={champion.files['embedder']}"])
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    run = RunLog(settings.mlflow.tracking_uri, f"{settings.mlflow.experiment}-retrain", name)
    run.params({**config_record(cfg), "champion_version": champion.version, "alias": alias,
                "eval_max_pairs": eval_max_pairs, "candidate_onnx": candidate_onnx,
                "calibration_max_images": calibration_max_images})
    try:
        result = _run(settings, cfg, run, champion, registry, feedback, targets,
                      gates or GateSettings(), candidate_onnx, eval_max_pairs,
                      calibration_max_images, threads, None if dry_run else alias)
    except BaseException as exc:
        run.tag("error", f"{type(exc).__name__}: {exc}"[:500])
        run.end("FAILED")
        raise
    run.tag("outcome", result.status)
    run.end("FINISHED")
    log.info("retrain %s: %s", result.status, result.reason)
    return result


def _run(settings: Settings, cfg: Any, run: RunLog, champion: Any, registry: Any,
         feedback: bool | int, targets: Sequence[str] | None, gate_settings: GateSettings,
         candidate_onnx: Path | None, eval_max_pairs: int | None,
         calibration_max_images: int | None, threads: int, alias: str | None
         ) -> RetrainResult:
    from trainer.evaluate import evaluate

    fb_version, manifest = _feedback(settings, feedback, cfg.run_dir)
    if manifest is not None:
        (cfg.run_dir / "feedback_manifest.json").write_text(json.dumps(manifest, default=str))
        run.artifact(cfg.run_dir / "feedback_manifest.json")
    targets = list(targets) if targets is not None else conditions_in(manifest)
    run.params({"feedback_version": fb_version, "targets": ",".join(targets) or "-"})
    identities: Sequence[str] = ()
    if candidate_onnx is None:
        candidate_onnx, identities = _train_and_export(cfg, run, manifest, targets)
    thresholds, calib = calibrate_embedder(settings, candidate_onnx, champion, cfg.cache_dir,
                                           calibration_max_images, threads)
    run.metrics({f"candidate.{k}": v for k, v in {**calib, **thresholds.as_record()}.items()})
    evaluation = evaluate(candidate_onnx, champion.files["embedder"], lfw_dir=cfg.lfw_dir,
                          eval_folds=cfg.eval_folds, training=identities,
                          cache_dir=cfg.cache_dir, max_pairs=eval_max_pairs, threads=threads)
    _write(cfg.run_dir / "evaluation.json", evaluation, run)
    measured = measure_conditions(cfg, evaluation_names(cfg, identities, eval_max_pairs),
                                  {"champion": (champion.files["embedder"],
                                                champion.thresholds.accept),
                                   "candidate": (candidate_onnx, thresholds.accept)},
                                  flip=bool(champion.spec.get("flip_tta", False)),
                                  threads=threads)
    measures = {role: model_measures(evaluation[role], *measured[role], accept)
                for role, accept in (("champion", champion.thresholds.accept),
                                     ("candidate", thresholds.accept))}
    report = run_gates(measures["champion"], measures["candidate"], targets=targets,
                       settings=gate_settings)
    for role, m in measures.items():
        run.metrics(_flatten(m, role))
    run.metrics({f"gate.{r.gate}": float(r.status != "fail") for r in report.results})
    for file, text in zip(REPORT_FILES, (report.to_json(), report.to_markdown(),
                                         report.to_html()), strict=True):
        (cfg.run_dir / file).write_text(text)
        run.artifact(cfg.run_dir / file, "gates")
    if not report.passed:
        run.tag("candidate_onnx", str(candidate_onnx))  # kept on disk, not in the tracker
        return RetrainResult("rejected", report.explain(), run.run_id, None, None, fb_version,
                             report, cfg.run_dir)
    if alias is None:
        return RetrainResult("passed", "dry run, not registered: " + report.explain(),
                             run.run_id, None, None, fb_version, report, cfg.run_dir)
    base = {k: v for k, v in champion.spec.items()
            if k not in ("detector", "embedder", "files", "thresholds")}
    spec = {**base, "training": {
        "identities": sorted(identities), "run_id": run.run_id, "config": cfg.name,
        "steps": cfg.steps, "parent_version": champion.version, "feedback_version": fb_version,
        "targets": targets}, "gates": [r.__dict__ for r in report.results]}
    version = registry.register(
        detector=champion.detector, embedder=champion.embedder,
        files={"detector": champion.files["detector"], "embedder": candidate_onnx},
        thresholds=thresholds, spec=spec, experiment=settings.mlflow.experiment, alias=alias,
        run_name=cfg.name, metrics={k.replace("candidate.", ""): v for k, v in
                                    _flatten(measures["candidate"], "candidate").items()})
    registry.client.set_model_version_tag(registry.model_name, version, "retrain_run",
                                          run.run_id)
    run.tag("registered_version", version)
    return RetrainResult("registered", f"version {version} registered as {alias}: "
                         + report.explain(), run.run_id, version, alias, fb_version, report,
                         cfg.run_dir)


def _write(path: Path, doc: Any, run: RunLog) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str))
    run.artifact(path)


def _flatten(doc: dict[str, Any], prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in doc.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def conditions_in(manifest: dict[str, Any] | None) -> list[str]:
    """Measurable conditions named in a feedback manifest (``genuine:mask+dim`` names two)."""
    if not manifest:
        return []
    named = set()
    for label in manifest["counts"]["by_condition"]:
        parts = label.replace(":", "+").replace("impostor_lookalike", "lookalike").split("+")
        named |= {p.strip() for p in parts}
    return [c for c in CONDITIONS if c in named and c != "clean"]


def _feedback(settings: Settings, feedback: bool | int, run_dir: Path
              ) -> tuple[int | None, dict[str, Any] | None]:
    """Build (True) or fetch (a version) the feedback dataset, mirrored under ``run_dir``."""
    from examgate import ports

    if feedback is False:
        return None, None
    objects, bucket = ports.object_store(settings), settings.object_store.bucket_training
    if feedback is True:
        # The sink is the processors' slice; the loop only asks it for a new version.
        from stream_processors.feedback import build_feedback_dataset

        version, manifest = build_feedback_dataset(settings)
        if version is None:
            return None, manifest
    else:
        version = int(feedback)
        manifest = json.loads(objects.get(bucket, f"feedback/v{version}/manifest.json"))
    folder = run_dir / "feedback" / f"v{version}"
    for sample in manifest["samples"]:
        path = folder / sample["key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(objects.get(bucket, sample["object_key"]))
    return version, manifest


def _train_and_export(cfg: Any, run: RunLog, manifest: dict[str, Any] | None,
                      targets: Sequence[str]) -> tuple[Path, tuple[str, ...]]:
    """Fine-tune from the champion's weights, export to ONNX and prove parity."""
    from dataclasses import replace

    from trainer.export import check_parity, export_onnx, load_backbone, sample_faces
    from trainer.train import CHECKPOINT, train

    faces, info = training_set(cfg, manifest, targets)
    run.params(info)
    npz = cfg.run_dir / "train_faces.npz"
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


def training_set(cfg: Any, manifest: dict[str, Any] | None, targets: Sequence[str],
                 augment_seed: int = 1234) -> tuple[Any, dict[str, Any]]:
    """The config's training set, plus usable feedback samples, plus altered copies for targets.

    Feedback labelled with a calibration or evaluation identity is left out (a
    simulated exam's students are LFW people): training on them would leak.
    """
    from examgate.bootstrap import calibration_identities
    from trainer.crops import align_files
    from trainer.data import FaceSet, build_faceset
    from trainer.splits import evaluation_identities

    base = build_faceset(cfg)
    faces, labels, names = [base.faces], [base.labels], list(base.identities)
    info: dict[str, Any] = {"train.base_faces": len(base.labels)}
    samples = (manifest or {}).get("samples", [])
    if samples:
        held = calibration_identities(cfg.lfw_dir) | evaluation_identities(cfg.lfw_dir,
                                                                            cfg.eval_folds)
        usable = [s for s in samples if s["identity"] not in held]
        folder = cfg.run_dir / "feedback" / f"v{manifest['version']}"  # type: ignore[index]
        crops = align_files(folder, [s["key"] for s in usable], cache_dir=None,
                            fallback_landmarks=False)
        by_key = {s["key"]: s["identity"] for s in usable}
        index = {n: i for i, n in enumerate(names)}
        ids = [index.setdefault(by_key[k], len(index)) for k in crops.names]
        names = list(index)
        faces.append(crops.faces)
        labels.append(np.array(ids, np.int64))
        info.update({"train.feedback_samples": len(crops.names),
                     "train.feedback_held_out": len(samples) - len(usable),
                     "train.feedback_no_face": len(crops.rejected)})
    all_faces, all_labels = np.concatenate(faces), np.concatenate(labels)
    for i, name in enumerate(c for c in targets if c in TRANSFORM_CONDITIONS):
        altered = alter(all_faces, name, seed=augment_seed + 1000 * i)
        faces.append(altered)
        labels.append(all_labels)
        info[f"train.augmented_{name}"] = len(altered)
    source = base.source + ("+feedback" if samples else "") + "".join(
        f"+{t}" for t in targets if t in TRANSFORM_CONDITIONS)
    return FaceSet(np.concatenate(faces), np.concatenate(labels), tuple(names), source), info


def alter(crops: np.ndarray, condition: str, seed: int = 0) -> np.ndarray:
    """Aligned crops under ``condition`` (a simulator transform), each with its own seed."""
    from examgate.vision.align import ARCFACE_TEMPLATE_112
    from simulator.transforms import Step, apply_chain

    return np.stack([apply_chain(face, [Step(condition, {}, seed + i)],
                                 landmarks=ARCFACE_TEMPLATE_112)
                     for i, face in enumerate(crops)]) if len(crops) else crops.copy()


def calibrate_embedder(settings: Settings, embedder_path: Path, champion: Any,
                       cache_dir: Path, max_images: int | None = None, threads: int = 2
                       ) -> tuple[Any, dict[str, float]]:
    """Thresholds for an embedder, as the bootstrap finds them: every pair of the calibration
    split's images, accept at FAR 1e-4, reject below FAR 1e-3."""
    from examgate.bootstrap import (
        ACCEPT_FAR,
        CALIBRATION_SPLIT,
        REJECT_FAR,
        all_pair_scores,
    )
    from examgate.datasets import lfw
    from examgate.policy import Thresholds
    from examgate.vision import create_embedder
    from examgate.vision.calibration import operating_point
    from trainer.crops import align_files

    lfw_dir = settings.data.lfw_dir
    names = sorted({n for p in lfw.read_pairs(lfw_dir / CALIBRATION_SPLIT) for n in (p.a, p.b)})
    if max_images is not None and max_images < len(names):
        names = _whole_people(names, max_images)
    crops = align_files(lfw_dir / "images", names, cache_dir=cache_dir, tag="lfw-calib")
    embedder = create_embedder(champion.embedder, model_path=embedder_path,
                               flip=bool(champion.spec.get("flip_tta", False)),
                               intra_op_threads=threads)
    genuine, impostor = all_pair_scores(list(crops.names), embedder.embed(crops.faces))
    accept = operating_point(genuine, impostor, ACCEPT_FAR)
    reject = operating_point(genuine, impostor, REJECT_FAR)
    thresholds = Thresholds(accept=accept.threshold, reject=reject.threshold,
                            accept_far=ACCEPT_FAR, reject_far=REJECT_FAR,
                            replay=champion.thresholds.replay)
    return thresholds, {"calib_tar_at_far_1e-4": accept.tar, "calib_tar_at_far_1e-3": reject.tar,
                        "calib_genuine_pairs": float(len(genuine)),
                        "calib_impostor_pairs": float(len(impostor))}


def _whole_people(names: Sequence[str], limit: int) -> list[str]:
    """About ``limit`` of ``names``, taking every image of people spread over the list, so that
    genuine pairs survive the cut."""
    from examgate.datasets.lfw import person_of

    people: dict[str, list[str]] = {}
    for n in names:
        people.setdefault(person_of(n), []).append(n)
    chosen: list[str] = []
    for person in list(people)[::max(1, len(names) // limit)]:
        if len(chosen) >= limit:
            break
        chosen += people[person]
    return sorted(chosen)


def evaluation_names(cfg: Any, training: Sequence[str] = (),
                     max_pairs: int | None = None) -> list[str]:
    """The held-out images ``trainer.evaluate.evaluate`` scores (same pairs, same subset)."""
    from trainer.splits import evaluation_pairs

    pairs = evaluation_pairs(cfg.lfw_dir, cfg.eval_folds, training=training)
    if max_pairs is not None:
        pairs = pairs[::max(1, len(pairs) // max_pairs)][:max_pairs]
    return sorted({n for p in pairs for n in (p.a, p.b)})


def measure_conditions(cfg: Any, names: Sequence[str],
                       models: dict[str, tuple[Path, float]], *, flip: bool = False,
                       threads: int = 2, seed: int = 7,
                       embed: Callable[[np.ndarray, Path], np.ndarray] | None = None,
                       ) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Role -> (condition rates, gender rates) at each model's accept threshold.

    ``models`` maps "champion" (first: it mines the look-alikes) and
    "candidate" to (ONNX path, accept threshold).
    """
    from examgate.datasets.lfw import person_of, read_genders
    from trainer.crops import align_files

    crops = align_files(cfg.lfw_dir / "images", list(names), cache_dir=cfg.cache_dir,
                        tag="lfw-eval")
    people = np.array([person_of(n) for n in crops.names])
    labels = read_genders(cfg.lfw_dir)
    genders = np.array([labels.get(n, "") for n in crops.names])
    altered = {c: alter(crops.faces, c, seed) for c in TRANSFORM_CONDITIONS}
    embed = embed or _onnx_embed(flip, threads)
    out, pairs = {}, None
    for role, (path, threshold) in models.items():
        clean = embed(crops.faces, path)
        pairs = lookalike_pairs(clean, people) if pairs is None else pairs
        conditions = {"clean": cross_rates(clean, clean, people, threshold),
                      **{c: cross_rates(clean, embed(a, path), people, threshold)
                         for c, a in altered.items()},
                      "lookalike": pair_rates(clean, pairs, threshold)}
        out[role] = (conditions, gender_rates(clean, people, genders, threshold))
    return out


def _onnx_embed(flip: bool, threads: int) -> Callable[[np.ndarray, Path], np.ndarray]:
    from examgate.vision import create_embedder

    def embed(faces: np.ndarray, path: Path) -> np.ndarray:
        embedder = create_embedder("sface", model_path=path, flip=flip, intra_op_threads=threads,
                                   max_batch=64)
        return embedder.embed(faces)

    return embed
