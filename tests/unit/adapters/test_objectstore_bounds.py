"""Bounded reads of the object stores: an object over the cap is refused without being read."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from examgate.adapters.objectstore import MemoryObjectStore, S3ObjectStore
from examgate.core.ports import ObjectStoreError


@dataclass
class _Stat:
    size: int | None


class _Response:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        return self.data if amt is None else self.data[:amt]

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


class FakeMinio:
    """The two calls a bounded read makes; ``stat_size`` can disagree with the stored bytes,
    as when an object is replaced between the two calls."""

    def __init__(self, data: bytes, stat_size: int | None = None) -> None:
        self.data = data
        self.stat_size = len(data) if stat_size is None else stat_size
        self.gets: list[tuple[int, int]] = []

    def stat_object(self, bucket: str, key: str) -> _Stat:
        return _Stat(self.stat_size)

    def get_object(self, bucket: str, key: str, offset: int = 0, length: int = 0) -> _Response:
        self.gets.append((offset, length))
        return _Response(self.data[offset:offset + length] if length else self.data[offset:])


def test_a_small_object_is_read_with_a_ranged_get() -> None:
    client = FakeMinio(b"frame")
    assert S3ObjectStore(client).get_at_most("b", "k", 10) == b"frame"
    assert client.gets == [(0, 11)]


def test_an_object_over_the_cap_is_refused_from_its_size_alone() -> None:
    client = FakeMinio(b"x" * 1000)
    with pytest.raises(ObjectStoreError, match="1000 bytes, over the 10-byte limit"):
        S3ObjectStore(client).get_at_most("b", "k", 10)
    assert client.gets == []


def test_an_object_that_grew_after_its_stat_is_still_bounded() -> None:
    client = FakeMinio(b"x" * 1000, stat_size=5)
    with pytest.raises(ObjectStoreError, match="over the 10-byte limit"):
        S3ObjectStore(client).get_at_most("b", "k", 10)
    assert client.gets == [(0, 11)]  # never more than one byte past the cap


def test_an_empty_object_needs_no_range() -> None:
    client = FakeMinio(b"")
    assert S3ObjectStore(client).get_at_most("b", "k", 10) == b""
    assert client.gets == []


def test_the_memory_store_bounds_its_reads_too() -> None:
    store = MemoryObjectStore()
    store.put("b", "k", b"x" * 11)
    assert store.get_at_most("b", "k", 11) == b"x" * 11
    with pytest.raises(ObjectStoreError, match="11 bytes, over the 10-byte limit"):
        store.get_at_most("b", "k", 10)
    with pytest.raises(ObjectStoreError, match="no object"):
        store.get_at_most("b", "missing", 10)
