"""The Kafka client factory: the exact librdkafka properties each kind of client gets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from examgate.adapters import eos
from examgate.adapters.eos import TransactionalProcessor
from examgate.adapters.kafka import KafkaClients, clients, private_group
from examgate.core.settings import KafkaSettings

BASE = {"bootstrap.servers": "broker:9092", "security.protocol": "PLAINTEXT"}


@pytest.fixture
def factory() -> KafkaClients:
    return KafkaClients(KafkaSettings(bootstrap_servers="broker:9092"))


def test_consumers_read_committed_and_never_auto_commit(factory: KafkaClients) -> None:
    assert factory.consumer_config(group_id="g") == {
        **BASE, "group.id": "g", "auto.offset.reset": "earliest",
        "isolation.level": "read_committed", "enable.auto.commit": False}


def test_consumer_overrides_are_explicit(factory: KafkaClients) -> None:
    conf = factory.consumer_config(group_id="g", offsets="latest", isolation="read_uncommitted",
                                   client_id="me", extra={"enable.partition.eof": True})
    assert conf == {**BASE, "group.id": "g", "auto.offset.reset": "latest",
                    "isolation.level": "read_uncommitted", "enable.auto.commit": False,
                    "client.id": "me", "enable.partition.eof": True}


def test_producers_are_idempotent_with_full_acks(factory: KafkaClients) -> None:
    assert factory.producer_config(client_id="gate-1") == {
        **BASE, "client.id": "gate-1", "enable.idempotence": True, "acks": "all",
        "linger.ms": 2, "message.timeout.ms": 60_000}
    assert factory.producer_config(client_id="x", extra={"linger.ms": 0})["linger.ms"] == 0


def test_transactional_producers_time_out_orphans_quickly(factory: KafkaClients) -> None:
    assert factory.transactional_producer_config("proc-w0") == {
        **BASE, "transactional.id": "proc-w0", "enable.idempotence": True, "linger.ms": 0,
        "transaction.timeout.ms": 10_000}


def test_admin_gets_the_connection_only(factory: KafkaClients) -> None:
    assert factory.admin_config() == BASE
    assert factory.admin_config(extra={"log_level": 0}) == {**BASE, "log_level": 0}


def test_sasl_credentials_reach_every_client() -> None:
    kafka = KafkaSettings(bootstrap_servers="b:9093", security_protocol="SASL_SSL",
                          sasl_mechanism="SCRAM-SHA-512", sasl_username="eg",
                          sasl_password=SecretStr("s3cret"))
    factory = KafkaClients(kafka)
    for conf in (factory.consumer_config(group_id="g"), factory.producer_config(client_id="c"),
                 factory.transactional_producer_config("t"), factory.admin_config()):
        assert conf["sasl.username"] == "eg" and conf["sasl.password"] == "s3cret"
        assert conf["security.protocol"] == "SASL_SSL"
        assert "ssl.ca.location" not in conf  # the system's CAs


def test_a_gate_outside_the_cluster_trusts_the_cluster_ca() -> None:
    # The external listener's certificate is signed by Strimzi's cluster CA, not a public one.
    kafka = KafkaSettings(bootstrap_servers="kafka.campus.example:9094",
                          security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                          sasl_username="examgate-gate-hall-a-01",
                          sasl_password=SecretStr("p"), ssl_ca_location="/etc/examgate/ca.crt")
    conf = KafkaClients(kafka).producer_config(client_id="gate")
    assert conf["ssl.ca.location"] == "/etc/examgate/ca.crt"


def test_private_groups_are_never_shared() -> None:
    a, b = private_group("console"), private_group("console")
    assert a != b and a.startswith("examgate-console-") and b.startswith("examgate-console-")


class _Captured:
    """Stands in for a confluent-kafka client class: records the properties it was built with."""

    built: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        _Captured.built.append((type(self).__name__, dict(conf)))


class _Consumer(_Captured):
    pass


class _Producer(_Captured):
    pass


def test_the_exactly_once_loop_gets_its_clients_from_the_factory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "Consumer", _Consumer)
    monkeypatch.setattr(clients, "Producer", _Producer)
    _Captured.built = []
    TransactionalProcessor(KafkaSettings(bootstrap_servers="broker:9092"), {},
                           group_id="examgate-processors",
                           transactional_id="examgate-processors-w0")
    # The same properties the loop used before it took them from the factory.
    assert _Captured.built == [
        ("_Consumer", {**BASE, "group.id": "examgate-processors", "enable.auto.commit": False,
                       "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                       "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000}),
        ("_Producer", {**BASE, "transactional.id": "examgate-processors-w0",
                       "enable.idempotence": True, "linger.ms": 0,
                       "transaction.timeout.ms": 10_000}),
    ]
    assert eos.FAST_FAILOVER == {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000}
