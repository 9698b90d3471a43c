"""The one MLflow tracker against a real MLflow (a sqlite store in a temporary folder)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from examgate.adapters.mlflow import (  # noqa: E402
    MAX_PARAM_LENGTH,
    MlflowRun,
    flatten,
    mlflow_client,
)


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One store for the module: creating a sqlite store runs every migration (seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    yield f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def experiment(tracking_uri: str, tmp_path: Path) -> str:
    """A fresh experiment whose artifacts land under ``tmp_path``."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    mlflow_client(tracking_uri).create_experiment(name, artifact_location=tmp_path.as_uri())
    return name


def test_flatten_keeps_numbers_and_joins_nested_keys():
    doc = {"clean": {"far": 0.1, "tar": 1, "note": "x"}, "ok": True, "n": 3, "none": None}
    assert flatten(doc, "candidate") == {"candidate.clean.far": 0.1, "candidate.clean.tar": 1.0,
                                         "candidate.n": 3.0}
    assert flatten({"a": {"b": 2}}) == {"a.b": 2.0}
    assert flatten({"a": {"b": 2}}, "x", sep="_") == {"x_a_b": 2.0}


def test_a_run_records_params_metrics_tags_and_artifacts(tracking_uri, experiment, tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# gates\n")
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "spec.json").write_text("{}")

    with MlflowRun.start(tracking_uri, experiment, "unit-run") as run:
        run.params({"steps": 2, "path": Path("/x"), "long": "y" * 2000})
        run.metrics({"loss": 1.5, "count": 3, "nan": float("nan"), "flag": True, "word": "x"})
        run.metrics({"loss": 0.5}, step=7)
        run.tag("outcome", "registered")
        run.tags({"a": 1, "b": "two"})
        run.artifact(report, "gates")
        run.artifact(folder, "model")

    client = mlflow_client(tracking_uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "unit-run"
    assert client.get_experiment(got.info.experiment_id).name == experiment
    assert got.data.params["steps"] == "2" and got.data.params["path"] == "/x"
    assert len(got.data.params["long"]) == MAX_PARAM_LENGTH
    # The latest value per key; non-finite numbers, booleans and strings are not metrics.
    assert got.data.metrics == {"loss": 0.5, "count": 3.0}
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "loss")] == [
        (0, 1.5), (7, 0.5)]
    assert {"outcome": "registered", "a": "1", "b": "two"}.items() <= got.data.tags.items()
    assert "mlflow.user" in got.data.tags  # the context tags a fluent run would carry
    paths = {a.path for folder in ("gates", "model")
             for a in client.list_artifacts(run.run_id, folder)}
    assert paths == {"gates/report.md", "model/spec.json"}


def test_an_escaping_error_fails_the_run_and_is_tagged(tracking_uri, experiment):
    with pytest.raises(RuntimeError, match="boom"), \
            MlflowRun.start(tracking_uri, experiment, "failing") as run:
        run.params({"stage": "train"})
        raise RuntimeError("boom")
    got = mlflow_client(tracking_uri).get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert got.data.tags["error"] == "RuntimeError: boom"


def test_a_missing_experiment_is_created_once_and_reused(tracking_uri):
    name = f"new-{uuid.uuid4().hex[:8]}"
    client = mlflow_client(tracking_uri)
    assert client.get_experiment_by_name(name) is None
    first = MlflowRun.start(tracking_uri, name, "one")
    first.end("KILLED")
    first.end("FINISHED")  # a second end changes nothing
    second = MlflowRun.start(tracking_uri, name, "two")
    second.end()
    runs = {r.info.run_name: r for r in client.search_runs(
        [client.get_experiment_by_name(name).experiment_id])}
    assert set(runs) == {"one", "two"}
    assert runs["one"].info.status == "KILLED" and runs["two"].info.status == "FINISHED"


def test_the_client_serves_tracking_and_registry_from_one_uri(tracking_uri):
    client = mlflow_client(tracking_uri)
    assert client.tracking_uri == tracking_uri
    name = f"model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    assert mlflow_client(tracking_uri).get_registered_model(name).name == name
