"""Redis with an append-only file, so the template cache survives a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from examgate.core.settings import Settings

from .base import Health, Service, host_port, port_open, run_script


def render_redis_conf(settings: Settings, data_dir: Path) -> str:
    """A ``redis.conf`` for a foreground server on loopback with AOF persistence."""
    host, port = host_port(settings.redis.url, 6379)
    lines = [
        f"bind {host}",
        f"port {port}",
        "protected-mode yes",
        # We detach and supervise the process ourselves; logs go to stdout -> our log file.
        "daemonize no",
        'logfile ""',
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        "save 3600 1 300 100 60 10000",
    ]
    if settings.redis.password is not None:
        lines.append(f'requirepass "{settings.redis.password.get_secret_value()}"')
    return "\n".join(lines) + "\n"


class RedisService(Service):
    """``redis-server`` from the system package, data under the state folder."""

    name = "redis"
    signature = "redis-server"
    stop_grace_s = 15.0

    @property
    def address(self) -> str:
        """host:port of the server."""
        host, port = host_port(self.settings.redis.url, 6379)
        return f"{host}:{port}"

    def is_installed(self) -> bool:
        """redis-server on PATH."""
        return shutil.which("redis-server") is not None

    def install(self) -> None:
        """apt-get install redis-server."""
        run_script("install-redis.sh", [], self.install_log)

    @property
    def _conf(self) -> Path:
        return self.data_dir / "redis.conf"

    def prepare(self) -> None:
        """Write redis.conf (private: it may hold the password)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._conf.touch(mode=0o600, exist_ok=True)
        self._conf.write_text(render_redis_conf(self.settings, self.data_dir))

    def command(self) -> list[str]:
        """``redis-server redis.conf``."""
        return ["redis-server", str(self._conf)]

    def check(self, timeout_s: float = 2.0) -> Health:
        """PING."""
        host, port = host_port(self.settings.redis.url, 6379)
        if not port_open(host, port):
            return Health(False, "not listening")
        pw = self.settings.redis.password
        client = redis.Redis.from_url(
            self.settings.redis.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            password=pw.get_secret_value() if pw else None,
        )
        try:
            client.ping()
            info = client.info("server")
        except redis.RedisError as exc:
            return Health(False, f"PING failed: {exc}")
        finally:
            client.close()
        return Health(True, f"redis {info.get('redis_version', '?')}")
