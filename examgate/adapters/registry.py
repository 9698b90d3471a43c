"""The model registry port: face models as MLflow registered-model versions.

A version bundles the detector and embedder files, their SHA-256, the input
spec and the decision thresholds calibrated for it. Serving code loads a
version by alias (``champion``, ``challenger``) or number, through a local cache
keyed by version and checked against the recorded hashes; never from a
hard-coded path. The spec is signed when registered and its signature checked on
every load (:mod:`examgate.core.signing`), so the hashes it records can be trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examgate.adapters.mlflow import MlflowRun, mlflow_client
from examgate.core.digest import sha256_file
from examgate.core.policy import Thresholds
from examgate.core.signing import ModelSigner, ModelVerifier, SignatureError

log = logging.getLogger("examgate.registry")
SPEC_FILE = "examgate-model.json"
SIGNATURE_FILE = "examgate-model.sig"
ARTIFACT_DIR = "face-model"


class RegistryError(RuntimeError):
    """The registry is unreachable, or a model version is missing or corrupt."""


@dataclass(frozen=True)
class ModelBundle:
    """One registered model version, materialised in the local cache."""

    name: str
    version: str
    detector: str  # registry name of the detector, e.g. "yunet"
    embedder: str  # registry name of the embedder, e.g. "sface"
    files: dict[str, Path]  # role ("detector", "embedder") -> local file
    thresholds: Thresholds
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the spec (file hashes, networks, thresholds, rules): the same model
        in any registry, e.g. staging's copy of a production challenger."""
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True, default=str)
                              .encode()).hexdigest()


def files_spec(files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Each file's name and SHA-256 by role, as a version's spec records them."""
    return {role: {"name": p.name, "sha256": sha256_file(p)} for role, p in files.items()}


def check_signature(folder: Path, verifier: ModelVerifier | None, *, require: bool,
                    what: str) -> None:
    """Raise RegistryError unless the spec in ``folder`` carries a trusted key's signature.

    A signature that does not verify is refused whatever ``require`` says (the spec was
    changed); an unsigned spec is refused only when ``require`` (production), and logged
    otherwise (versions registered before signing).
    """
    sig_path = folder / SIGNATURE_FILE
    if not sig_path.is_file():
        if require:
            raise RegistryError(f"{what} is not signed; this deployment serves only signed "
                                "versions (register it again with mlflow.signing_key set)")
        log.warning("%s is not signed: its hashes and thresholds are not protected against "
                    "tampering (production refuses it)", what)
        return
    if verifier is None:
        if require:
            raise RegistryError(f"{what} is signed but no trusted key is configured "
                                "(mlflow.trusted_keys)")
        return
    try:
        verifier.verify((folder / SPEC_FILE).read_bytes(), json.loads(sig_path.read_text()))
    except (SignatureError, ValueError) as exc:
        raise RegistryError(f"{what}: refused, its signature fails: {exc}") from exc


def _thresholds_from(spec: dict[str, Any]) -> Thresholds:
    return Thresholds(**spec["thresholds"])


class ModelRegistry:
    """Registers and loads face models in an MLflow model registry."""

    def __init__(self, tracking_uri: str, model_name: str, cache_dir: Path, *,
                 signer: ModelSigner | None = None, verifier: ModelVerifier | None = None,
                 require_signature: bool = False) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.cache_dir = Path(cache_dir)
        self.client = mlflow_client(tracking_uri)
        self.signer = signer  # None: versions are registered unsigned
        self.verifier = verifier
        self.require_signature = require_signature

    def register(self, *, detector: str, embedder: str, files: dict[str, Path],
                 thresholds: Thresholds, spec: dict[str, Any], experiment: str,
                 alias: str | None = None, run_name: str = "register",
                 metrics: dict[str, float] | None = None) -> str:
        """Log the files as a run's artifacts and register them as a new version."""
        # What the registry computes wins over anything of the same name in ``spec`` (a
        # spec copied from another version names that version's files).
        full_spec = {
            **spec, "detector": detector, "embedder": embedder,
            "files": files_spec(files),
            "thresholds": thresholds.as_spec(),
        }
        with (tempfile.TemporaryDirectory() as tmp,
              MlflowRun.start(self.tracking_uri, experiment, run_name) as run):
            bundle = Path(tmp) / ARTIFACT_DIR
            bundle.mkdir()
            for p in files.values():
                shutil.copy2(p, bundle / p.name)
            spec_bytes = json.dumps(full_spec, indent=2).encode()
            (bundle / SPEC_FILE).write_bytes(spec_bytes)
            if self.signer is not None:
                (bundle / SIGNATURE_FILE).write_text(json.dumps(self.signer.sign(spec_bytes)))
            run.params({"detector": detector, "embedder": embedder})
            run.metrics({f"threshold_{k}": float(v) for k, v in thresholds.as_spec().items()})
            run.metrics(metrics or {})
            run.artifact(bundle, ARTIFACT_DIR)
            run_id = run.run_id
        try:
            self.client.get_registered_model(self.model_name)
        except Exception:  # noqa: BLE001 - MLflow raises RestException for "not found"
            self.client.create_registered_model(
                self.model_name, description="ExamGate face detector + embedder bundles")
        mv = self.client.create_model_version(
            self.model_name, source=f"runs:/{run_id}/{ARTIFACT_DIR}", run_id=run_id,
            tags={"detector": detector, "embedder": embedder,
                  "thresholds": json.dumps(thresholds.as_record())})
        if alias:
            self.client.set_registered_model_alias(self.model_name, alias, mv.version)
        log.info("registered %s version %s (%s + %s)%s", self.model_name, mv.version, detector,
                 embedder, f" as {alias}" if alias else "")
        return str(mv.version)

    def resolve(self, alias_or_version: str) -> str:
        """The version number an alias points at (a number is returned as is)."""
        if alias_or_version.isdigit():
            return alias_or_version
        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias_or_version)
        except Exception as exc:  # noqa: BLE001
            raise RegistryError(f"{self.model_name}@{alias_or_version}: {exc}") from exc
        return str(mv.version)

    def aliases(self) -> dict[str, str]:
        """Alias -> version for the registered model (empty when none)."""
        try:
            return dict(self.client.get_registered_model(self.model_name).aliases)
        except Exception:  # noqa: BLE001
            return {}

    def load(self, alias_or_version: str = "champion") -> ModelBundle:
        """Materialise a version in the local cache (download once) and check its hashes."""
        import mlflow.artifacts

        version = self.resolve(alias_or_version)
        try:
            mv = self.client.get_model_version(self.model_name, version)
        except Exception as exc:  # noqa: BLE001
            raise RegistryError(f"{self.model_name} v{version}: {exc}") from exc
        # Version numbers are per registry and the cache is shared by every stack on the
        # machine: the run that logged the files names them uniquely.
        target = self.cache_dir / self.model_name / f"{version}-{mv.run_id}"
        spec_path = target / SPEC_FILE
        if not spec_path.is_file():
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
                    got = Path(mlflow.artifacts.download_artifacts(
                        artifact_uri=mv.source, dst_path=tmp, tracking_uri=self.tracking_uri))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.move(str(got), target)
            except Exception as exc:  # noqa: BLE001
                raise RegistryError(f"cannot download {self.model_name} v{version}: {exc}") from exc
        try:
            check_signature(target, self.verifier, require=self.require_signature,
                            what=f"{self.model_name} v{version}")
        except RegistryError:
            shutil.rmtree(target, ignore_errors=True)  # the next load downloads it afresh
            raise
        spec = json.loads(spec_path.read_text())
        files = {}
        for role, meta in spec["files"].items():
            path = target / meta["name"]
            if not path.is_file() or sha256_file(path) != meta["sha256"]:
                shutil.rmtree(target, ignore_errors=True)
                raise RegistryError(f"{self.model_name} v{version}: {meta['name']} is missing "
                                    "or does not match its SHA-256 (cache cleared; retry)")
            files[role] = path
        try:
            thresholds = _thresholds_from(spec)
        except (KeyError, TypeError, ValueError) as exc:
            # A version whose thresholds are broken never decides anything.
            raise RegistryError(f"{self.model_name} v{version}: invalid thresholds: "
                                f"{exc}") from exc
        return ModelBundle(self.model_name, version, spec["detector"], spec["embedder"], files,
                           thresholds, spec)

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def tag_version(self, version: str, key: str, value: str) -> None:
        """Set a tag on a model version (e.g. the run that produced it)."""
        self.client.set_model_version_tag(self.model_name, version, key, value)
