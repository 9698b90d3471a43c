"""An unreachable object store fails fast and as the port's error (review finding 2): a
stopped MinIO raised urllib3's MaxRetryError, which no caller expected, after ~6 s of
retries per call, so a would-be REVIEW became a dead letter with no decision."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest

from examgate.adapters.objectstore import S3ObjectStore
from examgate.core.ports import ObjectStoreError
from examgate.core.settings import ObjectStoreSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket is closed


@pytest.fixture
def unreachable() -> S3ObjectStore:
    return S3ObjectStore.from_settings(
        ObjectStoreSettings(endpoint=f"127.0.0.1:{_closed_port()}", timeout_s=1.0, retries=1))


@pytest.mark.parametrize("call", ["put", "get", "get_at_most", "keys", "delete",
                                  "delete_prefix"])
def test_every_call_raises_the_ports_error_quickly(unreachable: S3ObjectStore,
                                                   call: str) -> None:
    args = {"put": ("frames", "k", b"x"), "get": ("frames", "k"),
            "get_at_most": ("frames", "k", 10), "keys": ("frames",),
            "delete": ("frames", "k"), "delete_prefix": ("frames", "p/")}[call]
    began = time.monotonic()
    with pytest.raises(ObjectStoreError):
        getattr(unreachable, call)(*args)
    assert time.monotonic() - began < 5.0


def test_the_default_client_is_bounded_too() -> None:
    s = ObjectStoreSettings()
    assert s.timeout_s <= 5 and s.retries <= 2


def test_a_presigned_link_without_a_region_asks_the_store_and_fails_as_the_port() -> None:
    # With no region configured the client asks the store for the bucket's location first:
    # a stopped MinIO then raised urllib3's error out of the console's /review page (a 500).
    store = S3ObjectStore.from_settings(ObjectStoreSettings(
        endpoint=f"127.0.0.1:{_closed_port()}", timeout_s=1.0, retries=1, region=None))
    with pytest.raises(ObjectStoreError):
        store.presigned_url("frames", "review/s/e.jpg", timedelta(minutes=5))


def test_parallel_uploads_share_open_connections() -> None:
    """A worker keeps a burst for review from several threads: the client's pool holds that
    many connections (it held one, and logged "Connection pool is full" for every other)."""
    from examgate.adapters.objectstore import minio_client
    from examgate.core.settings import ObjectStoreSettings

    client = minio_client(ObjectStoreSettings(), timeout_s=1.0, retries=0)
    pool = client._http.connection_from_host("127.0.0.1", 9000, "http")
    assert pool.pool.maxsize >= 9
