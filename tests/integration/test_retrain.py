"""``retrain`` end to end on CPU: a few steps, a small evaluation, the real MLflow registry."""

from __future__ import annotations

import uuid

import pytest

from examgate.adapters import factory as ports
from examgate.core.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.lfw]
pytest.importorskip("torch")
pytest.importorskip("onnx2torch")
pytest.importorskip("onnxscript")

GATES = ("accuracy", "targets", "gender_gap", "failure_modes")


def test_retrain_registers_a_challenger_or_names_the_failed_gate(stack, topic_factory,
                                                                  monkeypatch, tmp_path) -> None:
    from mlflow import MlflowClient

    from examgate.models.bootstrap import bootstrap
    from trainer.loop import REPORT_FILES, RetrainRequest, retrain

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    # Empty topics of its own: the feedback stage runs and finds nothing to add.
    for name, event in (("feedback", "Feedback"), ("decisions", "Decision"),
                        ("checkins", "CheckIn")):
        monkeypatch.setenv(f"EXAMGATE_KAFKA__TOPICS__{name.upper()}",
                           topic_factory(event, partitions=1, prefix=f"retrain.{name}"))
    settings = load_settings()
    bootstrap(settings)
    registry = ports.model_registry(settings)
    alias = f"challenger-it-{uuid.uuid4().hex[:8]}"  # never disturbs a real challenger

    request = RetrainRequest(
        "sface_finetune", steps=2,
        overrides=("batch_size=8", "warmup_steps=1", "log_every=1",
                   # imprinting runs every face through SFace: a minute on CPU
                   "imprint_head=false", f"output_dir={tmp_path}"),
        targets=("mask",), eval_max_pairs=150, calibration_max_images=300, threads=2,
        alias=alias)
    result = retrain(settings, request)
    try:
        client = MlflowClient(settings.mlflow.tracking_uri)
        run = client.get_run(result.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["outcome"] == result.status
        assert run.data.params["targets"] == "mask" and "train.final_loss" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(result.run_id, "gates")}
        assert {f"gates/{f}" for f in REPORT_FILES} <= artifacts
        # Issue 12: the tracker never gets the feedback manifest (it names students), only
        # its summary; the run folder keeps no mirror of the frames.
        root = {a.path for a in client.list_artifacts(result.run_id)}
        assert "feedback_summary.json" in root and "feedback_manifest.json" not in root
        assert not (result.run_dir / "feedback").exists()
        assert result.report is not None
        assert [r.gate for r in result.report.results] == list(GATES)
        if result.registered:
            assert registry.resolve(alias) == result.version
            spec = registry.load(result.version).spec
            assert spec["training"]["run_id"] == result.run_id
            assert spec["training"]["feedback_identities"] == 0
            assert spec["thresholds"]["accept"] > spec["thresholds"]["reject"]
        else:
            assert alias not in registry.aliases()
            assert result.report.failed
            assert all(f"gate {r.gate} failed" in result.reason for r in result.report.failed)
            assert any(f"gate {g} failed" in result.reason for g in GATES)
    finally:
        if result.registered:
            registry.client.delete_registered_model_alias(registry.model_name, alias)
