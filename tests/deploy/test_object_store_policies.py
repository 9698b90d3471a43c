"""The object store's per-component policies, against a real MinIO (review finding 5).

The Job minio-setup's script (deploy/k8s/base/minio/setup.py) runs, exactly as in the cluster,
against a private MinIO server on a free loopback port (its own data folder and process, not
the local stack's), then every component's credential is used through the adapter the code
uses (S3ObjectStore): each may do what its code does, and is refused the rest. Skipped when
no MinIO server binary is installed (`examgate stack up` builds one into the stack's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from examgate.adapters.objectstore import S3ObjectStore, minio_client
from examgate.core.ports import ObjectStoreError
from examgate.core.settings import ObjectStoreSettings, StackSettings

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "deploy/k8s/base/minio/setup.py"
POLICIES = ROOT / "deploy/k8s/base/minio/policies"
ROOT_USER, ROOT_SECRET = "test-root", "test-root-secret-1"
FRAMES, ENROLLMENT = "examgate-frames", "examgate-enrollment"
TRAINING, MLFLOW = "examgate-training", "examgate-mlflow"
# One user per policy the Job gives credentials to (the gate's is added by hand, per gate).
COMPONENTS = {name: (f"{name}-user", f"{name}-secret-1") for name in (
    "examgate-processor-verify", "examgate-processor-enroll", "examgate-console",
    "examgate-mlflow", "examgate-trainer")}
GATE, OTHER_GATE = "hall-a-01", "hall-b-02"


def _minio_binary() -> Path | None:
    found = shutil.which("minio")
    path = Path(found) if found else StackSettings().cache_dir / "bin" / "minio"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private MinIO server, stopped (by its own process handle) after the module."""
    binary = _minio_binary()
    if binary is None:
        pytest.skip("no MinIO server binary on PATH or in the stack's cache "
                    "(`examgate stack up` builds one)")
    home = tmp_path_factory.mktemp("minio")
    port, console = _free_port(), _free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "MINIO_ROOT_USER": ROOT_USER,
           "MINIO_ROOT_PASSWORD": ROOT_SECRET, "MINIO_UPDATE": "off",
           "MINIO_CALLHOME_ENABLE": "off"}
    log = (home / "minio.log").open("wb")
    proc = subprocess.Popen([str(binary), "server", str(home / "data"), "--address",
                             f"127.0.0.1:{port}", "--console-address", f"127.0.0.1:{console}",
                             "--quiet"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/minio/health/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"MinIO did not start: {(home / 'minio.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _credentials(folder: Path, users: dict[str, tuple[str, str]]) -> Path:
    for policy, (access, secret) in users.items():
        (folder / policy).mkdir(parents=True)
        (folder / policy / "access-key").write_text(access)
        (folder / policy / "secret-key").write_text(secret)
    return folder


def _run_setup(endpoint: str, credentials: Path,
               environment: str = "development") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXAMGATE_OBJECT_STORE__ENDPOINT": endpoint,
           "EXAMGATE_OBJECT_STORE__SECURE": "false",
           "EXAMGATE_OBJECT_STORE__ACCESS_KEY": ROOT_USER,
           "EXAMGATE_OBJECT_STORE__SECRET_KEY": ROOT_SECRET, "EXAMGATE_ENVIRONMENT": environment}
    return subprocess.run([sys.executable, str(SETUP), "--policies", str(POLICIES),
                           "--credentials", str(credentials)], env=env, capture_output=True,
                          text=True, timeout=120)


def _admin(endpoint: str) -> Any:
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    return MinioAdmin(endpoint=endpoint, secure=False,
                      credentials=StaticProvider(ROOT_USER, ROOT_SECRET))


def _store(endpoint: str, access: str, secret: str) -> S3ObjectStore:
    return S3ObjectStore(minio_client(ObjectStoreSettings(
        endpoint=endpoint, access_key=access, secret_key=secret), 5.0, retries=0))


@pytest.fixture(scope="module")
def stores(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, S3ObjectStore]:
    """The setup applied twice (the second time after someone attached `readwrite` by hand),
    a gate user added as deploy/k8s/README.md says, and a store per credential."""
    creds = _credentials(tmp_path_factory.mktemp("credentials"), COMPONENTS)
    first = _run_setup(endpoint, creds)
    assert first.returncode == 0, first.stdout + first.stderr
    assert {f"bucket {b} created" for b in ObjectStoreSettings().buckets()} <= set(
        first.stdout.splitlines())
    admin = _admin(endpoint)
    admin.attach_policy(["readwrite"], user=COMPONENTS["examgate-console"][0])
    again = _run_setup(endpoint, creds)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created" not in again.stdout
    assert "user examgate-console-user: policy examgate-console only (detached readwrite)" in (
        again.stdout.splitlines())
    for gate in (GATE, OTHER_GATE):
        admin.user_add(gate, f"{gate}-secret-1")
        admin.attach_policy(["examgate-gate"], user=gate)
    out = {name: _store(endpoint, *cred) for name, cred in COMPONENTS.items()}
    out["root"] = _store(endpoint, ROOT_USER, ROOT_SECRET)
    out["gate"] = _store(endpoint, GATE, f"{GATE}-secret-1")
    return out


def _denied(call: Callable[[], object]) -> None:
    from minio.error import S3Error

    # set_expiry (run once at a worker's start) lets the client's own error through.
    with pytest.raises((ObjectStoreError, S3Error)) as err:
        call()
    assert "AccessDenied" in str(err.value), err.value


def _seed(root: S3ObjectStore, tag: str) -> dict[str, tuple[str, str]]:
    """Objects where each component's code puts them, unique to one test."""
    keys = {"upload": (FRAMES, f"incoming/{GATE}/{tag}"),
            "review": (FRAMES, f"review/s-{tag}/{tag}.jpg"),
            "photo": (ENROLLMENT, f"students/s-{tag}/{tag}/0"),
            "dataset": (TRAINING, f"feedback/v1/{tag}/manifest.json"),
            "artifact": (MLFLOW, f"1/{tag}/artifacts/model.onnx")}
    for bucket, key in keys.values():
        root.put(bucket, key, tag.encode())
    return keys


def test_verify_reads_gate_uploads_and_keeps_review_frames_only(
        stores: dict[str, S3ObjectStore]) -> None:
    """Verify: a gate's upload in, a review frame out, the frames' retention; no photos, no
    other review frames, no uploads of its own."""
    keys = _seed(stores["root"], "verify")
    s = stores["examgate-processor-verify"]
    assert s.get_at_most(*keys["upload"], 1024) == b"verify"
    s.put(FRAMES, "review/s-verify/new.jpg", b"frame", "image/jpeg")
    s.set_expiry(FRAMES, {"review/": 30, "incoming/": 1})
    _denied(lambda: s.get(*keys["review"]))
    _denied(lambda: s.get(*keys["photo"]))
    _denied(lambda: s.keys(ENROLLMENT, "students/"))
    _denied(lambda: s.put(FRAMES, f"incoming/{GATE}/forged", b"x"))
    _denied(lambda: s.delete_prefix(FRAMES, "review/s-verify/"))
    _denied(lambda: s.get(*keys["dataset"]))


def test_enroll_stores_and_erases_photos_review_frames_and_training_copies(
        stores: dict[str, S3ObjectStore]) -> None:
    """Enroll: the student's photos (list, read, write, delete); erasure of their review
    frames and of their samples in the feedback datasets (manifests rewritten); never a
    gate's upload, a new training sample or an artifact."""
    from examgate.core.erasure import erase_training_copies, manifest_key

    keys = _seed(stores["root"], "enroll")
    root, s = stores["root"], stores["examgate-processor-enroll"]
    assert s.keys(ENROLLMENT, "students/s-enroll/") == [keys["photo"][1]]
    assert s.get(*keys["photo"]) == b"enroll"
    s.put(ENROLLMENT, "students/s-enroll/e2/0", b"sealed")
    s.set_expiry(FRAMES, {"review/": 30, "incoming/": 1})
    assert s.delete_prefix(ENROLLMENT, "students/s-enroll/") == 2
    assert s.delete_prefix(FRAMES, "review/s-enroll/") == 1
    samples = [{"key": f"samples/{who}.jpg", "identity": who} for who in ("s-enroll", "s-2")]
    for sample in samples:
        root.put(TRAINING, f"feedback/v7/{sample['key']}", b"face")
    root.put(TRAINING, manifest_key(7), json.dumps({"samples": samples}).encode())
    erased = erase_training_copies(s, TRAINING, "s-enroll")
    assert (erased.samples, erased.versions) == (1, 1)
    assert root.keys(TRAINING, "feedback/v7/samples/") == ["feedback/v7/samples/s-2.jpg"]
    assert json.loads(root.get(TRAINING, manifest_key(7)))["samples"] == samples[1:]
    _denied(lambda: s.put(TRAINING, "feedback/v7/samples/new.jpg", b"x"))
    _denied(lambda: s.get(*keys["upload"]))
    _denied(lambda: s.keys(FRAMES, "incoming/"))
    _denied(lambda: s.get(*keys["artifact"]))


def test_console_only_reads_review_frames_and_enrolled_photos(
        stores: dict[str, S3ObjectStore]) -> None:
    """Console (internet-facing): reads review frames (proxied or presigned) and lists and
    reads enrolled photos; writes and deletes nothing, reads no gate upload or dataset."""
    keys = _seed(stores["root"], "console")
    s = stores["examgate-console"]
    assert s.get(*keys["review"]) == b"console"
    url = s.presigned_url(*keys["review"], timedelta(minutes=1))
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.read() == b"console"
    assert s.keys(ENROLLMENT, "students/s-console/") == [keys["photo"][1]]
    assert s.get(*keys["photo"]) == b"console"
    _denied(lambda: s.put(*keys["review"], b"tampered"))
    _denied(lambda: s.put(ENROLLMENT, "students/s-console/x/0", b"x"))
    _denied(lambda: s.delete_prefix(ENROLLMENT, "students/s-console/"))
    _denied(lambda: s.get(*keys["upload"]))
    _denied(lambda: s.get(*keys["dataset"]))
    _denied(lambda: s.get(*keys["artifact"]))
    _denied(lambda: s.set_expiry(FRAMES, {"review/": 1}))


def test_mlflow_only_touches_its_artifact_bucket(stores: dict[str, S3ObjectStore]) -> None:
    keys = _seed(stores["root"], "mlflow")
    s = stores["examgate-mlflow"]
    assert s.get(*keys["artifact"]) == b"mlflow"
    s.put(MLFLOW, "1/mlflow/artifacts/other", b"x")
    assert s.delete_prefix(MLFLOW, "1/mlflow/") == 2
    for name in ("upload", "review", "photo", "dataset"):
        _denied(lambda name=name: s.get(*keys[name]))  # type: ignore[misc]


def test_trainer_reads_review_frames_and_writes_feedback_datasets(
        stores: dict[str, S3ObjectStore]) -> None:
    """The feedback sink: review frames in, feedback/v<N>/ out; nothing else."""
    keys = _seed(stores["root"], "trainer")
    s = stores["examgate-trainer"]
    assert s.get(*keys["review"]) == b"trainer"
    assert keys["dataset"][1] in s.keys(TRAINING, "feedback/v")
    s.put(TRAINING, "feedback/v2/trainer/manifest.json", json.dumps({}).encode())
    assert s.get(TRAINING, "feedback/v2/trainer/manifest.json") == b"{}"
    _denied(lambda: s.get(*keys["upload"]))
    _denied(lambda: s.get(*keys["photo"]))
    _denied(lambda: s.put(*keys["review"], b"x"))
    _denied(lambda: s.put(TRAINING, "elsewhere/x", b"x"))


def test_a_gate_uploads_under_its_own_id_only(stores: dict[str, S3ObjectStore]) -> None:
    """examgate-gate: PutObject under incoming/<the user's own name>/, nothing else, not
    even reading back its own uploads."""
    keys = _seed(stores["root"], "gate")
    s = stores["gate"]
    s.put(FRAMES, f"incoming/{GATE}/e-1", b"frame", "image/jpeg")
    _denied(lambda: s.put(FRAMES, f"incoming/{OTHER_GATE}/e-1", b"forged"))
    _denied(lambda: s.put(FRAMES, "review/s-gate/e-1.jpg", b"forged"))
    _denied(lambda: s.get(*keys["upload"]))
    _denied(lambda: s.keys(FRAMES, f"incoming/{GATE}/"))
    _denied(lambda: s.get(*keys["photo"]))


def test_setup_refuses_what_would_grant_the_wrong_access(endpoint: str, tmp_path: Path) -> None:
    """Nothing is changed when: production gets a dev-overlay secret; a component has no
    policy; two components share an access key; a secret ends in a newline. Secrets are
    never printed."""
    dev = _credentials(tmp_path / "dev", {"examgate-console": ("c-user", "dev-only-console")})
    result = _run_setup(endpoint, dev, environment="production")
    assert result.returncode == 2
    assert "development secret of examgate-console" in result.stderr
    assert "dev-only-console" not in result.stdout + result.stderr

    stray = _credentials(tmp_path / "stray", {"examgate-admin": ("a-user", "a-secret-123")})
    assert "no policy examgate-admin.json" in _run_setup(endpoint, stray).stderr

    shared = _credentials(tmp_path / "shared", {"examgate-console": ("same", "secret-123"),
                                                "examgate-trainer": ("same", "secret-456")})
    assert "used twice" in _run_setup(endpoint, shared).stderr

    newline = _credentials(tmp_path / "newline", {"examgate-mlflow": ("m-user", "secret-123\n")})
    result = _run_setup(endpoint, newline)
    assert result.returncode == 2 and "--from-literal" in result.stderr
    assert "secret-123" not in result.stderr
    assert not any(u in _admin(endpoint).user_list() for u in ("c-user", "a-user", "same"))
