"""A few steps of the real loop on synthetic data: it runs, logs and writes its outputs."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from trainer.config import load_config  # noqa: E402
from trainer.tracking import LOG_FILE  # noqa: E402
from trainer.train import CHECKPOINT, METRICS, SPLIT, Dist, train, warmup_cosine  # noqa: E402


def test_smoke_run_writes_checkpoint_metrics_and_log(tmp_path, sface_path):
    cfg = load_config("smoke", [f"output_dir={tmp_path}", f"backbone_onnx={sface_path}",
                                "steps=2", "batch_size=2", "synthetic_size=4",
                                "synthetic_classes=2", "log_every=1"])
    summary = train(cfg, Dist())
    run = tmp_path / "smoke"
    assert summary["images_per_s"] > 0 and math.isfinite(summary["final_loss"])
    assert summary["precision"] == "fp32" and summary["peak_gpu_mem_bytes"] is None
    assert json.loads((run / METRICS).read_text())["steps"] == 2
    assert json.loads((run / SPLIT).read_text())["identities"] == ["synthetic-0", "synthetic-1"]
    lines = [json.loads(x) for x in (run / LOG_FILE).read_text().splitlines()]
    assert lines[0]["params"]["name"] == "smoke" and lines[-1] == {"status": "FINISHED"}
    assert [x["step"] for x in lines if "loss" in x] == [1, 2]
    state = torch.load(run / CHECKPOINT, weights_only=True)
    assert state["config"]["backbone"] == "sface" and "weight" in state["head"]


def test_warmup_then_cosine_schedule():
    f = warmup_cosine(2, 10)
    assert [round(f(s), 3) for s in (0, 1, 2, 6)] == [0.5, 1.0, 1.0, 0.5]
    assert f(10) == pytest.approx(0.0, abs=1e-9)


def test_mlflow_tracker_records_params_and_metrics(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from trainer.tracking import open_tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load_config("smoke", [f"output_dir={tmp_path}", f"mlflow_tracking_uri={uri}"])
    tracker = open_tracker(cfg, is_main=True)
    tracker.log_metrics({"loss": 1.5, "note": "x"}, step=3)
    tracker.close()
    run = mlflow.MlflowClient(uri).get_run(tracker.run.run_id)
    assert run.data.params["name"] == "smoke" and run.data.metrics["loss"] == 1.5
    assert run.info.status == "FINISHED"
