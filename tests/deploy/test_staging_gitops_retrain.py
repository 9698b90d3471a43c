"""Issue 15 (deploy side): the staging overlay, the Argo CD Applications and the retraining
CronJob (deploy/k8s/overlays/staging, deploy/argocd, deploy/k8s/base/trainer/retrain.yaml).

Rendered with the pinned kustomize (deploy/tools/install.sh); skipped where it cannot be
installed. deploy/validate.sh checks their schemas (tests/deploy/test_deploy.py runs it).
"""

from __future__ import annotations

import copy
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EXAMGATE_TOOLS_CACHE", ROOT / ".cache"))
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def kustomize() -> Path:
    result = subprocess.run(["bash", "deploy/tools/install.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=1500,
                            env={**os.environ, "PYTHON": sys.executable})
    if result.returncode == 3:
        pytest.skip(f"a validation tool cannot be installed here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    return CACHE / "bin/kustomize"


def _build(kustomize: Path, path: str) -> list[Doc]:
    text = subprocess.run([str(kustomize), "build", path], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="module")
def builds(kustomize: Path) -> dict[str, list[Doc]]:
    return {name: _build(kustomize, path) for name, path in {
        "dev": "deploy/k8s/overlays/dev", "staging": "deploy/k8s/overlays/staging",
        "production": "deploy/k8s/overlays/production", "argocd": "deploy/argocd"}.items()}


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def _env(c: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in c.get("env", [])}


# --- staging -----------------------------------------------------------------------------------

def test_staging_is_production_shaped_and_small(builds: dict[str, list[Doc]]) -> None:
    """Own namespace, environment production, Strimzi with SCRAM and KEDA, one broker where
    production has three, fewer partitions, no larger than production anywhere."""
    staging, production = builds["staging"], builds["production"]
    namespaces = {d["metadata"].get("namespace") for d in staging if d["kind"] != "Namespace"}
    assert namespaces == {"examgate-staging"}
    assert [d["metadata"]["name"] for d in staging if d["kind"] == "Namespace"] == [
        "examgate-staging"]
    config = _one(staging, "ConfigMap", "examgate-config")["data"]
    assert config["EXAMGATE_ENVIRONMENT"] == "production"
    assert config["EXAMGATE_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert {d["kind"] for d in staging} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser",
                                            "ScaledObject", "TriggerAuthentication"}
    assert _one(staging, "KafkaNodePool", "dual")["spec"]["replicas"] == 1
    assert _one(production, "KafkaNodePool", "dual")["spec"]["replicas"] == 3
    kafka = _one(staging, "Kafka", "examgate")["spec"]["kafka"]
    assert kafka["config"]["min.insync.replicas"] == 1
    assert kafka["listeners"][0]["authentication"]["type"] == "scram-sha-512"
    topics = [d["spec"] for d in staging if d["kind"] == "KafkaTopic"]
    assert {(t["partitions"], t["replicas"]) for t in topics} == {(3, 1)}
    assert int(config["EXAMGATE_KAFKA__TOPICS__PARTITIONS"]) == 3
    assert _one(staging, "StatefulSet", "minio")["spec"]["replicas"] == 1
    assert "examgate.svc" not in yaml.safe_dump_all(staging)  # no production address left
    assert not [d for d in staging if d["kind"] == "Secret"]  # created per namespace


def test_staging_refuses_development_secrets(builds: dict[str, list[Doc]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Its ConfigMap makes every process refuse the development template key and model key
    (as production's does): staging never runs on the public development values."""
    from examgate.core.settings import DEV_TEMPLATE_KEY, load_settings

    data = _one(builds["staging"], "ConfigMap", "examgate-config")["data"]
    for key in list(os.environ):
        if key.startswith("EXAMGATE_"):
            monkeypatch.delenv(key)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EXAMGATE_TEMPLATE_KEY", DEV_TEMPLATE_KEY)
    monkeypatch.setenv("EXAMGATE_OBJECT_STORE__SECRET_KEY", "stand-in-from-a-secret")
    monkeypatch.setenv("EXAMGATE_MLFLOW__TRUSTED_KEYS",
                       '["c3RhbmQtaW4tcHVibGljLWtleS0zMi1ieXRlcyEhISE="]')
    with pytest.raises(Exception, match="production refuses the public development value"):
        load_settings()


def test_staging_load_test_job(builds: dict[str, list[Doc]]) -> None:
    """Suspended, both benches with --json under /results, against the cluster (no local
    stack), with its own NetworkPolicy and Kafka user; staging only."""
    job = _one(builds["staging"], "Job", "staging-load-test")
    assert job["spec"]["suspend"] is True
    pod = job["spec"]["template"]
    (c,) = pod["spec"]["containers"]
    # The load-test image (Dockerfile.loadtest) carries the simulator; the serving one refuses it.
    assert c["image"].split(":")[0].endswith("examgate/loadtest")
    script = " ".join(c["args"])
    for bench, out in (("e2e", "/results/e2e.json"), ("api", "/results/api.json")):
        assert f'examgate bench {bench} --rate "$RATE" --duration "$DURATION" --json {out}' in (
            script)
    env = _env(c)
    assert env["EXAMGATE_STACK__AUTOSTART"]["value"] == "false"
    assert float(env["RATE"]["value"]) > 0 and float(env["DURATION"]["value"]) > 0
    assert "/results" in {m["mountPath"] for m in c["volumeMounts"]}
    component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
    policy = _one(builds["staging"], "NetworkPolicy", "load-test")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": component}
    user = _one(builds["staging"], "KafkaUser", "examgate-loadtest")
    assert env["EXAMGATE_KAFKA__SASL_USERNAME"]["value"] == user["metadata"]["name"]
    for other in ("dev", "production"):
        assert not [d for d in builds[other] if d["metadata"]["name"] in (
            "staging-load-test", "examgate-loadtest")], other


# --- Argo CD -----------------------------------------------------------------------------------

def _applications(builds: dict[str, list[Doc]]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in builds["argocd"] if d["kind"] == "Application"}


def test_applications_point_at_existing_overlays(builds: dict[str, list[Doc]]) -> None:
    """One Application per environment, each on an overlay of this repository and into the
    namespace that overlay sets, within the AppProject's repositories and destinations."""
    apps = _applications(builds)
    assert set(apps) == {"examgate-staging", "examgate-production"}
    project = _one(builds["argocd"], "AppProject", "examgate")["spec"]
    for env, app in ((n.removeprefix("examgate-"), a) for n, a in apps.items()):
        spec = app["spec"]
        assert spec["source"]["path"] == f"deploy/k8s/overlays/{env}"
        assert (ROOT / spec["source"]["path"] / "kustomization.yaml").is_file()
        namespaces = {d["metadata"]["namespace"] for d in builds[env] if "namespace" in
                      d["metadata"]}
        assert namespaces == {spec["destination"]["namespace"]}, env
        assert spec["project"] == "examgate"
        assert spec["source"]["repoURL"] in project["sourceRepos"]
        assert {"server": spec["destination"]["server"],
                "namespace": spec["destination"]["namespace"]} in project["destinations"]
        options = spec["syncPolicy"]["syncOptions"]
        assert {"CreateNamespace=true", "ServerSideApply=true",
                "RespectIgnoreDifferences=true"} <= set(options)


def test_staging_syncs_itself_production_does_not(builds: dict[str, list[Doc]]) -> None:
    apps = _applications(builds)
    automated = apps["examgate-staging"]["spec"]["syncPolicy"]["automated"]
    assert automated.get("enabled", True) is True and automated["prune"] and automated["selfHeal"]
    assert "automated" not in apps["examgate-production"]["spec"]["syncPolicy"]
    # Deleting production's Application must not delete production.
    assert "resources-finalizer.argocd.argoproj.io" not in apps["examgate-production"][
        "metadata"].get("finalizers", [])


def test_argo_cd_leaves_autoscaled_replicas_alone(builds: dict[str, list[Doc]]) -> None:
    """Every Deployment a ScaledObject or an HPA scales is in ignoreDifferences on
    /spec/replicas, in both Applications."""
    for env in ("staging", "production"):
        docs = builds[env]
        scaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs
                  if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")}
        assert scaled >= {"processor-verify", "processor-enroll", "api"}
        ignored = {i["name"] for i in _applications(builds)[f"examgate-{env}"]["spec"][
            "ignoreDifferences"] if i["kind"] == "Deployment" and "/spec/replicas" in
            i.get("jsonPointers", [])}
        assert scaled <= ignored, scaled - ignored


def test_argo_cd_check_rejects_unknown_fields(builds: dict[str, list[Doc]], kustomize: Path,
                                              tmp_path: Path) -> None:
    """deploy/tools/argocd/validate.mjs is not vacuous: a typo'd syncPolicy key, a wrong type
    and an unknown apiVersion all fail."""
    docs = copy.deepcopy(builds["argocd"])
    apps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Application"}
    automated = apps["examgate-staging"]["spec"]["syncPolicy"]["automated"]
    automated["selfHeel"] = automated.pop("selfHeal")
    apps["examgate-production"]["spec"]["source"]["targetRevision"] = 3
    _one(docs, "AppProject", "examgate")["apiVersion"] = "argoproj.io/v1"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(["node", "deploy/tools/argocd/validate.mjs", "--modules",
                             str(CACHE / "tools/argocd/node_modules"), str(bad)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    for needle in ("Application examgate-staging", "selfHeel", "Application examgate-production",
                   "AppProject examgate"):
        assert needle in result.stderr, result.stderr


# --- retraining each term ----------------------------------------------------------------------

def _cronjob(docs: list[Doc]) -> Doc:
    return _one(docs, "CronJob", "retrain-each-term")


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_retrain_cronjob_registers_a_challenger_on_a_gpu(builds: dict[str, list[Doc]],
                                                         env: str) -> None:
    """The trainer image and the Job trainer's GPU, tolerations, sizes and model keys; one run
    at a time; `examgate retrain`, which only registers a challenger, never a promote."""
    docs = builds[env]
    cron = _cronjob(docs)
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    assert len(spec["schedule"].split()) == 5
    assert spec["suspend"] is (env != "production")
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    trainer = _one(docs, "Job", "trainer")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    (t,) = trainer["containers"]
    assert c["image"] == t["image"] and c["image"].split(":")[0].endswith("trainer")
    assert c["resources"] == t["resources"]
    assert c["resources"]["requests"]["nvidia.com/gpu"] >= 1
    assert pod["tolerations"] == trainer["tolerations"]
    assert pod.get("nodeSelector") == trainer.get("nodeSelector")
    command = [*c.get("command", []), *c["args"]]
    assert command[:2] == ["examgate", "retrain"]
    words = " ".join(command).lower()
    for forbidden in ("promote", "canary", "rollback", "--alias", "champion"):
        assert forbidden not in words
    env_vars, trainer_env = _env(c), _env(t)
    for name in ("EXAMGATE_MLFLOW__SIGNING_KEY", "EXAMGATE_MLFLOW__TRUSTED_KEYS"):
        assert env_vars[name]["valueFrom"] == trainer_env[name]["valueFrom"], name
    assert env_vars["EXAMGATE_MLFLOW__SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "examgate-model-signing-key", "key": "signing-key", "optional": True}
    assert env_vars["EXAMGATE_MLFLOW__TRUSTED_KEYS"]["valueFrom"]["configMapKeyRef"][
        "name"] == "examgate-model-keys"
    # The trainer's NetworkPolicy (MLflow and the object store) selects its pods.
    labels = spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "trainer"


def test_retrain_cli_cannot_promote() -> None:
    """`examgate retrain` has no option that chooses the alias: what it registers is always
    the challenger (trainer/loop.py), so the CronJob cannot promote."""
    from trainer.cli import retrain
    from trainer.loop import RetrainRequest

    assert "alias" not in inspect.signature(retrain).parameters
    assert RetrainRequest("sface_finetune").alias == "challenger"
