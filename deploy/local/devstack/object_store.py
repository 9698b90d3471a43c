"""MinIO, the S3-compatible object store, built from source with Go."""

from __future__ import annotations

import logging
from pathlib import Path

from examgate.adapters.objectstore import ensure_buckets, minio_client

from .base import Health, Service, StackError, host_port, port_open, run_script

log = logging.getLogger(__name__)


class ObjectStoreService(Service):
    """``minio server`` on loopback with the credentials from settings."""

    name = "object_store"
    signature = "minio server"
    stop_grace_s = 15.0

    @property
    def address(self) -> str:
        """The S3 endpoint URL."""
        cfg = self.settings.object_store
        return f"{'https' if cfg.secure else 'http'}://{cfg.endpoint}"

    @property
    def binary(self) -> Path:
        """The MinIO server binary built into the cache."""
        return self.paths.cache_dir / "bin" / "minio"

    def is_installed(self) -> bool:
        """Binary present and built from the pinned version."""
        stamp = self.binary.parent / ".minio-version"
        return (self.binary.is_file() and stamp.is_file()
                and stamp.read_text().strip() == self.settings.stack.minio_version)

    def install(self) -> None:
        """``go install github.com/minio/minio@<version>`` (minutes, once)."""
        run_script("install-objectstore.sh",
                   [self.settings.stack.minio_version, str(self.binary.parent)], self.install_log)

    def prepare(self) -> None:
        """Create the data folder."""
        if len(self.settings.object_store.secret_key.get_secret_value()) < 8:
            raise StackError("object_store: MinIO needs a secret key of at least 8 characters")
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        """``minio server <data> --address ... --console-address ...``."""
        host, port = host_port(self.settings.object_store.endpoint, 9000)
        console = self.settings.stack.object_store_console_port
        return [str(self.binary), "server", str(self.data_dir / "data"),
                "--address", f"{host}:{port}", "--console-address", f"{host}:{console}",
                "--quiet"]

    def environment(self) -> dict[str, str]:
        """Root credentials from settings; no phoning home."""
        cfg = self.settings.object_store
        return {
            "MINIO_ROOT_USER": cfg.access_key,
            "MINIO_ROOT_PASSWORD": cfg.secret_key.get_secret_value(),
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
        }

    def check(self, timeout_s: float = 2.0) -> Health:
        """List buckets with the configured credentials."""
        host, port = host_port(self.settings.object_store.endpoint, 9000)
        if not port_open(host, port):
            return Health(False, "not listening")
        try:
            names = [b.name for b in minio_client(self.settings.object_store,
                                                  timeout_s).list_buckets()]
        except Exception as exc:  # noqa: BLE001 - any client failure means unhealthy
            return Health(False, f"list buckets failed: {exc}")
        return Health(True, f"{len(names)} buckets")

    def provision(self) -> None:
        """Create every bucket ExamGate writes to."""
        created = ensure_buckets(self.settings.object_store)
        if created:
            log.info("object_store: created buckets %s", ", ".join(created))
