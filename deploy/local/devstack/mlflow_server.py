"""The MLflow tracking server: SQLite metadata, artifacts proxied to the object store."""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .base import Health, Service, StackError, host_port, port_open


class MlflowService(Service):
    """``mlflow server`` with one worker; needs the object store for artifacts."""

    name = "mlflow"
    signature = "mlflow"
    depends_on = ("object_store",)
    stop_grace_s = 15.0

    @property
    def address(self) -> str:
        """The tracking URI."""
        return self.settings.mlflow.tracking_uri

    @property
    def executable(self) -> Path | None:
        """The ``mlflow`` script beside this interpreter, else on PATH."""
        local = Path(sys.executable).parent / "mlflow"
        found = local if local.is_file() else shutil.which("mlflow")
        return Path(found) if found else None

    def is_installed(self) -> bool:
        """The full ``mlflow`` package (the server) is importable."""
        try:
            import mlflow.server  # noqa: F401
        except ImportError:
            return False
        return self.executable is not None

    def install(self) -> None:
        """MLflow is a Python dependency: say which extra brings it."""
        raise StackError("mlflow: the tracking server is not installed; run "
                         "pip install -e '.[stack]' in this virtual environment")

    def prepare(self) -> None:
        """Create the folder of the SQLite database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        """``mlflow server`` with a SQLite backend and S3-proxied artifacts."""
        host, port = host_port(self.settings.mlflow.tracking_uri, self.settings.stack.mlflow_port)
        return [
            str(self.executable), "server",
            "--host", host, "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination", f"s3://{self.settings.object_store.bucket_mlflow}",
        ]

    def environment(self) -> dict[str, str]:
        """S3 endpoint and credentials for the artifact proxy."""
        cfg = self.settings.object_store
        return {
            "MLFLOW_S3_ENDPOINT_URL": f"{'https' if cfg.secure else 'http'}://{cfg.endpoint}",
            "AWS_ACCESS_KEY_ID": cfg.access_key,
            "AWS_SECRET_ACCESS_KEY": cfg.secret_key.get_secret_value(),
            "AWS_DEFAULT_REGION": cfg.region or "us-east-1",
            # The job runner (GenAI evaluation jobs) forks ~8 extra processes; the
            # tracking server and registry do not need it.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }

    def check(self, timeout_s: float = 2.0) -> Health:
        """GET /health."""
        host, port = host_port(self.address, self.settings.stack.mlflow_port)
        if not port_open(host, port):
            return Health(False, "not listening")
        url = self.address.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                body = resp.read(64).decode(errors="replace").strip()
        except (urllib.error.URLError, OSError) as exc:
            return Health(False, f"GET /health failed: {exc}")
        return Health(True, f"/health says {body}")
