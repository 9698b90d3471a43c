"""Apache Kafka in KRaft mode: one JVM that is both broker and controller."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import KafkaException

from examgate.adapters.kafka import KafkaClients, Topics, ensure_topics
from examgate.core.settings import Settings

from .base import Health, Service, StackError, host_port, port_open, run_script

log = logging.getLogger(__name__)

HEAP_OPTS = ["-Xms256m", "-Xmx512m"]


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID as 22 URL-safe base64 characters."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator rejects ids starting with '-' (they read as CLI flags).
        if not cid.startswith("-"):
            return cid


def render_server_properties(settings: Settings, data_dir: Path) -> str:
    """The broker's ``server.properties`` for a single combined broker+controller node."""
    host, port = host_port(settings.kafka.bootstrap_servers.split(",")[0], 9092)
    ctl = settings.stack.kafka_controller_port
    topics = settings.kafka.topics
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{ctl}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        "num.partitions": str(topics.partitions),
        # One node: internal topics cannot have more replicas than brokers, or
        # consumer groups and transactions never become available.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "min.insync.replicas": "1",
        "default.replication.factor": "1",
        # Tests and demos start fresh consumer groups often; don't make each wait 3 s.
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def render_log4j(log_dir: Path) -> str:
    """A reload4j config writing the broker's log to a rolling file."""
    return "\n".join([
        "log4j.rootLogger=INFO, file",
        "log4j.appender.file=org.apache.log4j.RollingFileAppender",
        f"log4j.appender.file.File={log_dir / 'kafka-server.log'}",
        "log4j.appender.file.MaxFileSize=20MB",
        "log4j.appender.file.MaxBackupIndex=3",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
        # The controller's and state-change logs are chatty at INFO.
        "log4j.logger.kafka.controller=WARN",
        "log4j.logger.state.change.logger=WARN",
        "log4j.logger.org.apache.kafka.controller=WARN",
        "",
    ])


class KafkaService(Service):
    """A single-node KRaft Kafka started from Maven-fetched jars."""

    name = "kafka"
    signature = "kafka.Kafka"
    stop_grace_s = 30.0

    @property
    def address(self) -> str:
        """The bootstrap server clients use."""
        return self.settings.kafka.bootstrap_servers

    @property
    def libs_dir(self) -> Path:
        """The folder of Kafka's jars, one per version."""
        return self.paths.cache_dir / f"kafka-{self.settings.stack.kafka_version}" / "libs"

    def is_installed(self) -> bool:
        """Jars present and a Java runtime on PATH."""
        jar = self.libs_dir / f"kafka_2.13-{self.settings.stack.kafka_version}.jar"
        return jar.is_file() and shutil.which("java") is not None

    def install(self) -> None:
        """Download the jars with Maven (once; ~/.m2 caches them too)."""
        run_script("install-kafka.sh", [self.settings.stack.kafka_version, str(self.libs_dir)],
                   self.install_log)

    def log_files(self) -> list[Path]:
        """Console output (JVM errors) and the broker's own log."""
        return [self.log_file, self.log_file.parent / "kafka-server.log"]

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java", *HEAP_OPTS, "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp", f"{self.libs_dir}/*", main, *args,
        ]

    @property
    def _properties(self) -> Path:
        return self.data_dir / "server.properties"

    def prepare(self) -> None:
        """Write the configs and format the storage folder the first time only."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._properties.write_text(render_server_properties(self.settings, self.data_dir))
        (self.data_dir / "log4j.properties").write_text(render_log4j(self.log_file.parent))
        if (self.data_dir / "data" / "meta.properties").exists():
            return
        id_file = self.data_dir / "cluster-id"
        if not id_file.exists():
            id_file.write_text(new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        log.info("kafka: formatting storage for new cluster %s", cluster_id)
        with self.log_file.open("ab") as out:
            code = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "--ignore-formatted",
                           "-t", cluster_id, "-c", str(self._properties)),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            ).returncode
        if code != 0:
            raise StackError(f"kafka: formatting storage failed (exit {code}); see {self.log_file}")

    def command(self) -> list[str]:
        """``java ... kafka.Kafka server.properties``."""
        return self._java("kafka.Kafka", str(self._properties))

    @staticmethod
    def _quiet(timeout_s: float) -> dict[str, int]:
        """Admin properties of the probes: short, and silent while the broker is down."""
        return {"socket.timeout.ms": int(timeout_s * 1000), "log_level": 0}

    def check(self, timeout_s: float = 2.0) -> Health:
        """Metadata request through the AdminClient."""
        host, port = host_port(self.address.split(",")[0], 9092)
        # Probe the port first: librdkafka would otherwise log connection errors.
        if not port_open(host, port):
            return Health(False, "not listening")
        try:
            admin = KafkaClients(self.settings.kafka).admin(extra=self._quiet(timeout_s))
            meta = admin.list_topics(timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - any client failure means unhealthy
            return Health(False, f"metadata request failed: {exc}")
        return Health(True, f"{len(meta.brokers)} broker, {len(meta.topics)} topics")

    def provision(self) -> None:
        """Create every topic ExamGate uses; existing topics are left as they are."""
        topics = Topics.from_settings(self.settings.kafka.topics)
        try:
            created = ensure_topics(self.settings.kafka, topics, timeout_s=15.0,
                                    extra=self._quiet(10.0))
        except KafkaException as exc:
            raise StackError(f"kafka: could not create topics: {exc}") from exc
        if created:
            log.info("kafka: created topics %s (%d partitions)", ", ".join(created),
                     self.settings.kafka.topics.partitions)
