"""Each local service does the job ExamGate needs from it, end to end."""

from __future__ import annotations

import io
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from devstack import down, up
from mlflow.tracking import MlflowClient

from examgate.adapters.kafka import KafkaClients, Topics
from examgate.adapters.objectstore import minio_client
from examgate.core.settings import Settings

pytestmark = pytest.mark.integration


def test_kafka_keyed_messages_keep_their_partition(
    stack: Settings, topic_factory: Callable[..., str], group_id: str
) -> None:
    clients = KafkaClients(stack.kafka)
    topic = topic_factory("CheckIn", key="gate id", partitions=3)
    producer = clients.producer(client_id="test-keyed")
    sent = {f"gate-{g}:{i}" for g in range(6) for i in range(5)}
    for value in sorted(sent):
        producer.produce(topic, key=value.split(":")[0], value=value)
    assert producer.flush(30) == 0

    consumer = clients.consumer(group_id=group_id, offsets="earliest")
    consumer.subscribe([topic])
    received: list[tuple[str, int, str]] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            raw_key, partition, raw_value = msg.key(), msg.partition(), msg.value()
            assert raw_key is not None and partition is not None and raw_value is not None
            received.append((raw_key.decode(), partition, raw_value.decode()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    assert {value for _, _, value in received} == sent
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    for key, partition, _ in received:
        partitions_of_key[key].add(partition)
    assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key
    assert len({p for ps in partitions_of_key.values() for p in ps}) > 1


def test_kafka_transactions_work_on_one_node(
    stack: Settings, topic_factory: Callable[..., str], group_id: str
) -> None:
    clients = KafkaClients(stack.kafka)
    topic = topic_factory("CheckIn", partitions=1)
    producer = clients.transactional_producer(f"test-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, key="gate-1", value="aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key="gate-1", value="committed")
    producer.commit_transaction(30)

    consumer = clients.consumer(group_id=group_id, offsets="earliest",
                                isolation="read_committed")
    consumer.subscribe([topic])
    values: list[bytes | None] = []
    deadline = time.monotonic() + 30
    try:
        while not values and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    assert values == [b"committed"]


def test_stack_created_the_system_topics(stack: Settings) -> None:
    meta = KafkaClients(stack.kafka).admin().list_topics(timeout=10)
    for topic in Topics.from_settings(stack.kafka.topics):
        assert topic.name in meta.topics
        assert len(meta.topics[topic.name].partitions) == topic.partitions


def test_redis_value_survives_a_restart(stack: Settings) -> None:
    import redis

    def connect() -> redis.Redis:
        pw = stack.redis.password
        return redis.Redis.from_url(stack.redis.url, socket_timeout=5,
                                    password=pw.get_secret_value() if pw else None)

    key, value = f"test:{uuid.uuid4().hex}", uuid.uuid4().hex
    client = connect()
    client.set(key, value)
    client.close()

    if down(stack, ["redis"])["redis"] not in ("stopped", "killed"):
        pytest.skip("redis was not started by this stack, so the test may not restart it")
    up(stack, ["redis"])

    client = connect()
    try:
        assert client.get(key) == value.encode()
    finally:
        client.delete(key)
        client.close()


def test_object_put_and_get(stack: Settings) -> None:
    client = minio_client(stack.object_store, timeout_s=10, retries=2)
    bucket = stack.object_store.bucket_frames
    name, payload = f"test/{uuid.uuid4().hex}.bin", uuid.uuid4().bytes * 1000
    client.put_object(bucket, name, io.BytesIO(payload), len(payload),
                      content_type="application/octet-stream")
    try:
        response = client.get_object(bucket, name)
        try:
            assert response.read() == payload
        finally:
            response.close()
            response.release_conn()
    finally:
        client.remove_object(bucket, name)


def test_mlflow_run_round_trip(stack: Settings, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=stack.mlflow.tracking_uri)
    experiment_id = client.create_experiment(f"test-{uuid.uuid4().hex[:12]}")
    try:
        _log_and_read_back_a_run(stack, client, experiment_id, tmp_path)
    finally:
        client.delete_experiment(experiment_id)


def _log_and_read_back_a_run(
    stack: Settings, client: MlflowClient, experiment_id: str, tmp_path: Path
) -> None:
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_param(run_id, "far_target", "1e-4")
    client.log_metric(run_id, "tar_at_far", 0.987, step=1)
    client.log_text(run_id, "threshold: 0.42\n", "calibration/thresholds.yaml")
    client.set_terminated(run_id)

    fetched = client.get_run(run_id)
    assert fetched.data.params == {"far_target": "1e-4"}
    assert fetched.data.metrics == {"tar_at_far": 0.987}
    assert fetched.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run_id, "calibration")] == [
        "calibration/thresholds.yaml"
    ]
    local = client.download_artifacts(run_id, "calibration/thresholds.yaml", str(tmp_path))
    assert Path(local).read_text() == "threshold: 0.42\n"

    # The server proxies artifacts into the object store rather than its own disk.
    objects = minio_client(stack.object_store, timeout_s=10).list_objects(
        stack.object_store.bucket_mlflow, recursive=True)
    assert any(run_id in o.object_name and o.object_name.endswith("thresholds.yaml")
               for o in objects)
