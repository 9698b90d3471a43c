"""The local stack's own logic: PID files, stopping only our processes, rendered configs."""

from __future__ import annotations

import base64
import os
import socket
import time
from pathlib import Path

import pytest
from devstack import StackError, StackPaths, build_services, down
from devstack.base import Health, Service, host_port
from devstack.cli import app
from devstack.kafka_broker import new_cluster_id, render_server_properties
from devstack.lifecycle import select, start_services
from devstack.mlflow_server import MlflowService
from devstack.process import is_alive, is_ours, read_pid, spawn, stop, write_pid
from devstack.redis_server import render_redis_conf
from pydantic import SecretStr
from typer.testing import CliRunner

from examgate.core.settings import (
    KafkaSettings,
    MlflowSettings,
    ObjectStoreSettings,
    RedisSettings,
    Settings,
    StackSettings,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose state lives in tmp_path and whose ports have nothing listening."""
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{_free_port()}"),
        redis=RedisSettings(url=f"redis://127.0.0.1:{_free_port()}/0"),
        object_store=ObjectStoreSettings(endpoint=f"127.0.0.1:{_free_port()}"),
        mlflow=MlflowSettings(tracking_uri=f"http://127.0.0.1:{_free_port()}"),
        stack=StackSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache",
                            kafka_controller_port=_free_port()),
    )


# --- PID files -------------------------------------------------------------------------


def test_pid_file_round_trip(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids" / "x.pid"
    write_pid(pid_file, 4242)
    assert read_pid(pid_file) == 4242


@pytest.mark.parametrize("content", ["", "abc", "-5", "0", "12 34"])
def test_unreadable_pid_file_reads_as_none(tmp_path: Path, content: str) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(content)
    assert read_pid(pid_file) is None
    assert read_pid(tmp_path / "missing.pid") is None


# --- stopping only what we started -----------------------------------------------------


def test_spawned_process_is_ours_and_stops(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    pid = spawn(["sleep", "300"], tmp_path / "sleeper.log", pid_file)
    assert read_pid(pid_file) == pid
    assert is_ours(pid, "sleep 300")
    assert not is_ours(pid, "redis-server")
    assert stop(pid_file, "sleep 300", grace_s=5) == "stopped"
    assert not is_alive(pid)
    assert not pid_file.exists()


def test_stop_leaves_a_process_that_is_not_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "stranger.pid"
    write_pid(pid_file, os.getpid())  # e.g. a PID reused after a reboot
    assert stop(pid_file, "pytest", grace_s=1) == "stale"
    assert is_alive(os.getpid())
    assert not pid_file.exists()


def test_stop_leaves_our_pid_running_a_different_program(tmp_path: Path) -> None:
    pid_file = tmp_path / "other.pid"
    pid = spawn(["sleep", "300"], tmp_path / "other.log", pid_file)
    try:
        assert stop(pid_file, "kafka.Kafka", grace_s=1) == "stale"
        assert is_alive(pid)
    finally:
        write_pid(pid_file, pid)
        stop(pid_file, "sleep", grace_s=5)


def test_stop_without_pid_file_does_nothing(tmp_path: Path) -> None:
    assert stop(tmp_path / "none.pid", "sleep") == "none"


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    pid_file = tmp_path / "stubborn.pid"
    pid = spawn(["bash", "-c", "trap '' TERM; sleep 300; true"], tmp_path / "s.log", pid_file)
    time.sleep(0.3)  # let bash install the trap
    assert stop(pid_file, "trap", grace_s=0.5) == "killed"
    assert not is_alive(pid)


def test_stop_takes_the_servers_children_along(tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "parent.pid", tmp_path / "child.pid"
    spawn(["bash", "-c", f"sleep 300 & echo $! > {child_file}; wait"], tmp_path / "p.log",
          pid_file)
    deadline = time.monotonic() + 5
    while read_pid(child_file) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child = read_pid(child_file)
    assert child is not None and is_alive(child)
    assert stop(pid_file, "bash", grace_s=5) in ("stopped", "killed")
    deadline = time.monotonic() + 5
    while is_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(child)


def test_down_with_nothing_started_touches_nothing(settings: Settings) -> None:
    assert set(down(settings).values()) == {"none"}


def test_kill_crashes_our_server_and_only_ours(settings: Settings) -> None:
    """`stack kill` (fault drills) sends SIGKILL to the recorded server, as a crash would."""
    from devstack.lifecycle import kill

    (redis,) = [s for s in build_services(settings) if s.name == "redis"]
    pid = spawn(["bash", "-c", f"sleep 60; : {redis.signature}"], redis.log_file,
                redis.pid_file)
    assert is_ours(pid, redis.signature)
    assert kill(settings, ["redis"]) == {"redis": pid}
    deadline = time.monotonic() + 5
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(pid)
    assert kill(settings, ["redis"]) == {"redis": None}
    result = CliRunner().invoke(app, ["kill", "redis"],
                                env={"EXAMGATE_STACK__STATE_DIR": str(settings.stack.state_dir)})
    assert result.exit_code == 1 and "not running as ours" in result.output


# --- start-up failures are reported with the log ------------------------------------


class _CrashingService(Service):
    name = "crasher"
    signature = "crash-marker"

    @property
    def address(self) -> str:
        return "nowhere"

    def is_installed(self) -> bool:
        return True

    def install(self) -> None:
        raise AssertionError("never called")

    def command(self) -> list[str]:
        return ["bash", "-c", "echo crash-marker: port already in use; exit 3"]

    def check(self, timeout_s: float = 2.0) -> Health:
        return Health(False, "not listening")


def test_a_server_that_dies_at_start_is_reported_with_its_log(settings: Settings) -> None:
    svc = _CrashingService(settings, StackPaths.from_settings(settings))
    with pytest.raises(StackError) as err:
        start_services([svc], timeout_s=30)
    message = str(err.value)
    assert "exited (code 3)" in message
    assert str(svc.log_file) in message
    assert "port already in use" in message
    assert not svc.pid_file.exists()


# --- service selection and rendered configuration ---------------------------------------


def test_select_adds_dependencies_only_when_starting(settings: Settings) -> None:
    services = build_services(settings)
    assert [s.name for s in select(services, ["mlflow"])] == ["object_store", "mlflow"]
    assert [s.name for s in select(services, ["mlflow"], with_dependencies=False)] == ["mlflow"]
    assert len(select(services, None)) == 4
    with pytest.raises(StackError, match="unknown service"):
        select(services, ["zookeeper"])


def test_kafka_properties_single_node_kraft(settings: Settings, tmp_path: Path) -> None:
    props = dict(
        line.split("=", 1) for line in render_server_properties(settings, tmp_path).splitlines()
    )
    host, port = host_port(settings.kafka.bootstrap_servers, 9092)
    ctl = settings.stack.kafka_controller_port
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}"
    assert props["advertised.listeners"] == f"PLAINTEXT://{host}:{port}"
    assert props["controller.quorum.voters"] == f"1@{host}:{ctl}"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1"


def test_cluster_id_is_kafka_shaped() -> None:
    cid = new_cluster_id()
    assert len(cid) == 22 and not cid.startswith("-")
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_redis_conf_persists_and_takes_port_from_url(tmp_path: Path) -> None:
    redis = RedisSettings(url="redis://127.0.0.1:6390/0", password=SecretStr("s3cret"))
    conf = render_redis_conf(Settings(redis=redis), tmp_path)
    assert "port 6390" in conf.splitlines()
    assert "appendonly yes" in conf.splitlines()
    assert f'dir "{tmp_path}"' in conf.splitlines()
    assert 'requirepass "s3cret"' in conf.splitlines()


def test_mlflow_command_uses_sqlite_s3_and_one_worker(settings: Settings) -> None:
    svc = MlflowService(settings, StackPaths.from_settings(settings))
    cmd = svc.command()
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--backend-store-uri") + 1].startswith(f"sqlite:///{svc.data_dir}")
    assert cmd[cmd.index("--artifacts-destination") + 1] == "s3://examgate-mlflow"
    env = svc.environment()
    assert env["MLFLOW_S3_ENDPOINT_URL"] == f"http://{settings.object_store.endpoint}"
    assert env["AWS_SECRET_ACCESS_KEY"] == settings.object_store.secret_key.get_secret_value()
    # Credentials travel by environment, never on the (world-readable) command line.
    assert settings.object_store.secret_key.get_secret_value() not in " ".join(cmd)


def test_status_exits_non_zero_when_services_are_down(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(settings.model_dump_json())  # JSON is YAML
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "not listening" in result.output


class _UninstallableService(_CrashingService):
    name = "uninstallable"

    def is_installed(self) -> bool:
        return False

    def install(self) -> None:
        raise StackError("install-uninstallable.sh failed (exit 1); see install.log")


def test_an_install_failure_stops_start_up_with_its_log(settings: Settings) -> None:
    svc = _UninstallableService(settings, StackPaths.from_settings(settings))
    with pytest.raises(StackError, match="see install.log"):
        start_services([svc], timeout_s=30)
    assert not svc.pid_file.exists()


def test_a_freshly_spawned_process_is_recognised_at_once(tmp_path: Path) -> None:
    # Popen returns before the kernel shows the new command line; under load the
    # check right after spawn read '' about once in 75 spawns (CI failed on it).
    pid_file = tmp_path / "quick.pid"
    for _ in range(40):
        pid = spawn(["sleep", "300"], tmp_path / "quick.log", pid_file)
        assert is_ours(pid, "sleep 300")
        assert stop(pid_file, "sleep 300", grace_s=5) == "stopped"
