"""Credentials per component in the rendered manifests (issue 12, review findings 5 and 8).

Kafka: each KafkaUser of the production overlay may Read only the topics its code consumes and
Write only those it produces; gates publish check-ins and nothing else, and nobody but them and
the HTTP API (for its kiosks) publishes them. Object store: only the MinIO server and the Job
minio-setup hold the root credential; every other workload that talks to it has its own user,
bound by that Job to its own policy (the HTTP API has none), and the policies themselves stay
narrow. What the policies allow against a real MinIO is checked in
test_object_store_policies.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from examgate.core.settings import ObjectStoreSettings, TopicSettings

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EXAMGATE_TOOLS_CACHE", ROOT / ".cache"))
POLICIES = ROOT / "deploy/k8s/base/minio/policies"
BUILDS = {"base": "deploy/k8s/base", "dev": "deploy/k8s/overlays/dev",
          "production": "deploy/k8s/overlays/production"}
WORKLOADS = ("Deployment", "StatefulSet", "Job")
GATE_PREFIX = "examgate-gate-"
API_USER = "examgate-api"
# Kafka operations a grant of "All" stands for (Strimzi's AclOperation values on topics).
ALL_TOPIC_OPS = {"Read", "Write", "Create", "Delete", "Alter", "Describe", "DescribeConfigs",
                 "AlterConfigs"}
Doc = dict[str, Any]
T = TopicSettings()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    """`kustomize build` of the base and both overlays (tools as in test_deploy.py)."""
    result = subprocess.run(["bash", "deploy/tools/install.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=1500,
                            env={**os.environ, "PYTHON": sys.executable})
    if result.returncode == 3:
        pytest.skip(f"a validation tool cannot be installed here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = {}
    for name, path in BUILDS.items():
        text = subprocess.run([str(CACHE / "bin/kustomize"), "build", path], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout
        out[name] = [d for d in yaml.safe_load_all(text) if d]
    return out


def _kafka_users(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}


def _topic_grants(user: Doc) -> dict[str, set[str]]:
    """Topic -> the operations the user's ACLs allow on it (prefixes and * resolved against
    every topic ExamGate has)."""
    grants: dict[str, set[str]] = {t: set() for t in T.all_topics()}
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow", "deny ACLs are not expected here"
        resource = acl["resource"]
        if resource["type"] != "topic":
            continue
        ops = set(acl["operations"])
        ops = ALL_TOPIC_OPS if "All" in ops else ops
        pattern, name = resource.get("patternType", "literal"), resource["name"]
        for topic in grants:
            if (name == "*" or (pattern == "literal" and name == topic)
                    or (pattern == "prefix" and topic.startswith(name))):
                grants[topic] |= ops
    return grants


def _topics_with(user: Doc, op: str) -> set[str]:
    return {t for t, ops in _topic_grants(user).items() if op in ops}


def _other_grants(user: Doc) -> list[tuple[str, str, list[str]]]:
    return [(a["resource"]["type"], a["resource"].get("name", ""), a["operations"])
            for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] != "topic"]


# --- Kafka ACLs --------------------------------------------------------------------------------

def test_processor_reads_what_it_consumes_and_writes_what_it_produces(
        rendered: dict[str, list[Doc]]) -> None:
    """The processor may not publish check-ins (nor feedback or audit events): only decisions
    and the dead letters of the topics it consumes (review finding 8)."""
    user = _kafka_users(rendered["production"])["examgate-processor"]
    assert _topics_with(user, "Read") == {T.checkins, T.enrollments, T.model_events}
    assert _topics_with(user, "Write") == {T.decisions, T.checkins + T.dlq_suffix,
                                           T.enrollments + T.dlq_suffix}
    assert T.checkins not in _topics_with(user, "Write")


def test_console_reads_its_feeds_and_writes_only_verdicts_and_audit(
        rendered: dict[str, list[Doc]]) -> None:
    user = _kafka_users(rendered["production"])["examgate-console"]
    assert _topics_with(user, "Read") == {T.decisions, T.feedback, T.audit}
    assert _topics_with(user, "Write") == {T.feedback, T.audit}
    assert {kind for kind, _, _ in _other_grants(user)} == {"group"}


def test_each_gate_has_a_user_that_may_only_publish_checkins(
        rendered: dict[str, list[Doc]]) -> None:
    """Publish-side credentials per gate: Write and Describe on gate.checkins, idempotent
    writes, nothing to read, no group, no transactions."""
    gates = {n: u for n, u in _kafka_users(rendered["production"]).items()
             if n.startswith(GATE_PREFIX)}
    assert gates, "no examgate-gate-<id> KafkaUser in the production overlay"
    for name, user in gates.items():
        grants = {t: ops for t, ops in _topic_grants(user).items() if ops}
        assert grants == {T.checkins: {"Write", "Describe"}}, name
        assert _other_grants(user) == [("cluster", "", ["IdempotentWrite"])], name
        # Strimzi generates each gate's password: no shared Secret between gates.
        assert "password" not in user["spec"]["authentication"], name


def test_gates_outside_the_cluster_reach_kafka_only_over_tls_and_scram(
        rendered: dict[str, list[Doc]]) -> None:
    """The gates' route into the cluster (issue 12): an external listener with TLS and SCRAM,
    open only to the gates' network; the in-cluster listener stays internal."""
    (kafka,) = [d for d in rendered["production"] if d["kind"] == "Kafka"]
    listeners = {x["name"]: x for x in kafka["spec"]["kafka"]["listeners"]}
    gates = listeners["gates"]
    assert gates["type"] in ("loadbalancer", "ingress", "nodeport")
    assert gates["tls"] is True and gates["authentication"]["type"] == "scram-sha-512"
    ranges = gates["configuration"]["loadBalancerSourceRanges"]
    assert ranges and "0.0.0.0/0" not in ranges
    assert [p["ipBlock"]["cidr"] for p in gates["networkPolicyPeers"]] == ranges
    assert listeners["plain"]["type"] == "internal"
    # Every listener authenticates: no anonymous producer anywhere.
    assert all(x["authentication"]["type"] == "scram-sha-512" for x in listeners.values())


def test_only_gates_publish_checkins_and_only_the_registrar_enrollments(
        rendered: dict[str, list[Doc]]) -> None:
    """Check-ins come from the gates and from the HTTP API, which publishes its kiosks'."""
    users = _kafka_users(rendered["production"])
    writers = {t: {n for n, u in users.items() if t in _topics_with(u, "Write")}
               for t in (T.checkins, T.enrollments, T.model_events)}
    assert API_USER in writers[T.checkins]
    gates = writers[T.checkins] - {API_USER}
    assert gates and all(n.startswith(GATE_PREFIX) for n in gates)
    assert writers[T.enrollments] == {"examgate-registrar"}
    assert writers[T.model_events] == {"examgate-models"}
    sink = users["examgate-feedback-sink"]
    assert not _topics_with(sink, "Write")
    assert _topics_with(sink, "Read") == {T.feedback, T.decisions, T.checkins}


def test_api_publishes_checkins_and_reads_decisions_only(
        rendered: dict[str, list[Doc]]) -> None:
    """The HTTP API writes nothing but gate.checkins (never a decision, a verdict or an audit
    event) and reads only the decisions it answers with, in throw-away groups of its own; its
    password is the one its Deployment is given."""
    user = _kafka_users(rendered["production"])[API_USER]
    grants = {t: ops for t, ops in _topic_grants(user).items() if ops}
    assert grants == {T.checkins: {"Write", "Describe"}, T.decisions: {"Read", "Describe"}}
    assert sorted(_other_grants(user)) == [("cluster", "", ["IdempotentWrite"]),
                                           ("group", "examgate-api-", ["Read", "Describe"])]
    (group,) = [a["resource"] for a in user["spec"]["authorization"]["acls"]
                if a["resource"]["type"] == "group"]
    assert group["patternType"] == "prefix"
    secret = user["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]["name"]
    api = _workloads(rendered["production"])["Deployment/api"]
    assert _env_secret(api, ("EXAMGATE_KAFKA__SASL_USERNAME",)) == secret
    assert _env_secret(api, ("EXAMGATE_KAFKA__SASL_PASSWORD",)) == secret
    # Nobody else shares it.
    holders = {w for w, spec in _workloads(rendered["production"]).items()
               if secret in _secret_refs(spec)}
    assert holders == {"Deployment/api"}


def test_kafka_acls_name_topics_that_exist(rendered: dict[str, list[Doc]]) -> None:
    """A typo'd topic in an ACL would silently grant nothing (or something else later)."""
    topics = set(T.all_topics())
    for name, user in _kafka_users(rendered["production"]).items():
        for acl in user["spec"]["authorization"]["acls"]:
            r = acl["resource"]
            if r["type"] != "topic":
                continue
            if r.get("patternType", "literal") == "literal":
                assert r["name"] in topics, f"{name}: {r['name']}"
            else:
                assert any(t.startswith(r["name"]) for t in topics), f"{name}: {r['name']}"


# --- object store ------------------------------------------------------------------------------

def _secret_refs(spec: Doc) -> set[str]:
    """Every Secret a pod spec reads: env, envFrom, secret and projected volumes."""
    names: set[str] = set()
    for c in spec.get("initContainers", []) + spec["containers"]:
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        names |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        names |= {s["secret"]["name"] for s in volume.get("projected", {}).get("sources", [])
                  if "secret" in s}
    return names


def _workloads(docs: list[Doc]) -> dict[str, Doc]:
    return {f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
            for d in docs if d["kind"] in WORKLOADS}


def _env_secret(spec: Doc, names: tuple[str, ...]) -> str | None:
    for c in spec["containers"]:
        for env in c.get("env", []):
            if env["name"] in names:
                return str(env["valueFrom"]["secretKeyRef"]["name"])
    return None


def _root_secret(docs: list[Doc]) -> str:
    minio = _workloads(docs)["StatefulSet/minio"]
    root = _env_secret(minio, ("MINIO_ROOT_USER",))
    assert root
    return root


@pytest.mark.parametrize("build", list(BUILDS))
def test_only_minio_and_its_setup_job_hold_the_root_credential(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """The console, the processors and MLflow no longer share MinIO's root user (review
    finding 5)."""
    docs = rendered[build]
    root = _root_secret(docs)
    holders = {w for w, spec in _workloads(docs).items() if root in _secret_refs(spec)}
    assert holders == {"StatefulSet/minio", "Job/minio-setup"}


@pytest.mark.parametrize("build", list(BUILDS))
def test_each_component_has_its_own_user_bound_to_its_own_policy(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """Every workload that talks to the object store uses a Secret of its own; the setup Job
    projects that Secret into the folder named after the component's policy document."""
    docs = rendered[build]
    keys = ("EXAMGATE_OBJECT_STORE__ACCESS_KEY", "AWS_ACCESS_KEY_ID")
    users = {w: _env_secret(spec, keys) for w, spec in _workloads(docs).items()
             if w not in ("StatefulSet/minio", "Job/minio-setup")}
    users = {w: s for w, s in users.items() if s}
    assert set(users) == {"Deployment/processor-verify", "Deployment/processor-enroll",
                          "Deployment/console", "Deployment/mlflow"}
    assert len(set(users.values())) == len(users), users
    setup = _workloads(docs)["Job/minio-setup"]
    (credentials,) = [v for v in setup["volumes"] if v["name"] == "credentials"]
    folder = {}
    for source in credentials["projected"]["sources"]:
        paths = {item["path"] for item in source["secret"]["items"]}
        (policy,) = {p.split("/")[0] for p in paths}
        assert paths == {f"{policy}/access-key", f"{policy}/secret-key"}
        folder[source["secret"]["name"]] = policy
    expected = {"Deployment/processor-verify": "examgate-processor-verify",
                "Deployment/processor-enroll": "examgate-processor-enroll",
                "Deployment/console": "examgate-console", "Deployment/mlflow": "examgate-mlflow"}
    assert {w: folder[s] for w, s in users.items()} == expected
    policies = {p.stem for p in POLICIES.glob("*.json")}
    # Every policy has a user from the Job, except the gates' (one user per gate, by hand).
    assert set(folder.values()) == policies - {"examgate-gate"}


@pytest.mark.parametrize("build", list(BUILDS))
def test_api_holds_no_object_store_user_and_no_template_key(
        rendered: dict[str, list[Doc]], build: str) -> None:
    """The internet-facing API needs neither: frames travel inline in the CheckIn, models come
    through MLflow's proxied artifacts, and the enrollment status reads Redis's version index
    without decrypting anything. Its Secrets: its clients, Redis, and its Kafka user."""
    api = _workloads(rendered[build])["Deployment/api"]
    expected = {"examgate-api", "examgate-redis"}
    if build == "production":
        expected.add("examgate-kafka-api")
    # The dev overlay's generated Secrets carry a content hash: examgate-redis-<hash>.
    refs = {re.sub(r"-[a-z0-9]{10}$", "", n) if build == "dev" else n for n in _secret_refs(api)}
    assert refs == expected
    assert _env(api, "EXAMGATE_OBJECT_STORE__ACCESS_KEY") is None
    # Set, but empty: "none held" (production refuses only the development defaults).
    for name in ("EXAMGATE_TEMPLATE_KEY", "EXAMGATE_OBJECT_STORE__SECRET_KEY"):
        assert _env(api, name) == {"name": name, "value": ""}, name


def test_setup_config_map_carries_every_policy_and_the_script(
        rendered: dict[str, list[Doc]]) -> None:
    (cm,) = [d for d in rendered["base"] if d["kind"] == "ConfigMap"
             and d["metadata"]["name"] == "examgate-minio-setup"]
    expected = {p.name: p.read_text() for p in POLICIES.glob("*.json")}
    expected["setup.py"] = (ROOT / "deploy/k8s/base/minio/setup.py").read_text()
    assert cm["data"] == expected
    (job,) = [d for d in rendered["base"] if d["kind"] == "Job"
              and d["metadata"]["name"] == "minio-setup"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["python", "/etc/examgate/minio-setup/setup.py"]


def test_setup_job_reads_its_settings_in_production(rendered: dict[str, list[Doc]]) -> None:
    """The Job reads only the object-store section: in production it needs no template key
    (the old bucket Job called load_settings(), which production refuses without one)."""
    spec = importlib.util.spec_from_file_location("examgate_minio_setup",
                                                  ROOT / "deploy/k8s/base/minio/setup.py")
    minio_setup = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = minio_setup  # type: ignore[union-attr]  # for its dataclass
    spec.loader.exec_module(minio_setup)  # type: ignore[union-attr]
    docs = rendered["production"]
    (config,) = [d["data"] for d in docs if d["kind"] == "ConfigMap"
                 and d["metadata"]["name"] == "examgate-config"]
    assert config["EXAMGATE_ENVIRONMENT"] == "production"
    environ = {**config, "EXAMGATE_OBJECT_STORE__ACCESS_KEY": "root",
               "EXAMGATE_OBJECT_STORE__SECRET_KEY": "stand-in-from-a-secret"}
    cfg = minio_setup.object_store_settings(environ)
    assert cfg.endpoint == config["EXAMGATE_OBJECT_STORE__ENDPOINT"] and cfg.secure is False
    policies = minio_setup.load_policies(POLICIES)
    minio_setup.check(cfg, policies, [], "production")  # the policies name known buckets


def _statements(name: str) -> list[Doc]:
    return list(json.loads((POLICIES / f"{name}.json").read_text())["Statement"])


def test_policies_stay_narrow() -> None:
    """No wildcard actions or buckets, only ExamGate's buckets; the internet-facing console
    and the gates write nothing they should not; verify never sees enrollment photos."""
    buckets = set(ObjectStoreSettings().buckets())
    for path in POLICIES.glob("*.json"):
        for st in _statements(path.stem):
            assert st["Effect"] == "Allow", path.name
            assert all(a.startswith("s3:") and "*" not in a for a in st["Action"]), path.name
            for arn in st["Resource"]:
                bucket = arn.removeprefix("arn:aws:s3:::").split("/")[0]
                assert bucket in buckets, f"{path.name}: {arn}"

    def actions(name: str) -> set[str]:
        return {a for st in _statements(name) for a in st["Action"]}

    def resources(name: str) -> set[str]:
        return {r for st in _statements(name) for r in st["Resource"]}

    assert actions("examgate-console") == {"s3:GetBucketLocation", "s3:GetObject",
                                           "s3:ListBucket"}
    assert {r for st in _statements("examgate-gate") if st["Action"] == ["s3:PutObject"]
            for r in st["Resource"]} == {"arn:aws:s3:::examgate-frames/incoming/${aws:username}/*"}
    assert actions("examgate-gate") == {"s3:GetBucketLocation", "s3:PutObject"}
    assert not any("examgate-enrollment" in r for r in resources("examgate-processor-verify"))
    assert resources("examgate-mlflow") == {"arn:aws:s3:::examgate-mlflow",
                                            "arn:aws:s3:::examgate-mlflow/*"}


def _env(spec: Doc, name: str) -> Doc | None:
    return next((e for c in spec["containers"] for e in c.get("env", []) if e["name"] == name),
                None)


@pytest.mark.parametrize("build", list(BUILDS))
def test_only_the_trainer_holds_the_model_signing_key(rendered: dict[str, list[Doc]],
                                                      build: str) -> None:
    """Model versions are signed by the job that registers them and checked by those that
    serve them (review finding 5): the servers get public keys only."""
    docs = rendered[build]
    workloads = _workloads(docs)
    signers = {w for w, spec in workloads.items() if _env(spec, "EXAMGATE_MLFLOW__SIGNING_KEY")}
    assert signers == {"Job/trainer"}
    assert (_env(workloads["Job/trainer"], "EXAMGATE_MLFLOW__SIGNING_KEY")["valueFrom"]
            ["secretKeyRef"]["name"]) == "examgate-model-signing-key"
    for name in ("Deployment/processor-verify", "Deployment/processor-enroll", "Deployment/api",
                 "Job/trainer"):
        keys = _env(workloads[name], "EXAMGATE_MLFLOW__TRUSTED_KEYS")
        assert keys and keys["valueFrom"]["configMapKeyRef"]["name"] == "examgate-model-keys"
    if build == "production":
        config = next(d for d in docs if d["kind"] == "ConfigMap"
                      and d["metadata"]["name"] == "examgate-config")["data"]
        # envFrom gives every server this: an empty key, so a server never signs.
        assert config["EXAMGATE_MLFLOW__SIGNING_KEY"] == ""
