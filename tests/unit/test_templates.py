"""Templates, their encryption, and the in-memory ports."""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core.crypto import DecryptionError, Sealer
from examgate.core.ports import ObjectStoreError, Template, TemplateStoreError


def _template(student: str = "s1", version: str = "1") -> Template:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Template.from_embeddings(student, version, emb, rng.integers(0, 255, (3, 32, 32)))


def test_template_mean_is_normalised_and_round_trips() -> None:
    t = _template()
    assert abs(np.linalg.norm(t.embedding) - 1) < 1e-5
    back = Template.from_bytes(t.to_bytes())
    assert back.student_id == "s1" and back.model_version == "1"
    np.testing.assert_array_equal(back.image_embeddings, t.image_embeddings)
    np.testing.assert_array_equal(back.thumbnails, t.thumbnails)


def test_sealer_binds_context_and_key() -> None:
    sealer = Sealer(os.urandom(32))
    blob = sealer.seal(b"secret embedding", "tpl:1:s1")
    assert b"secret embedding" not in blob
    assert sealer.open(blob, "tpl:1:s1") == b"secret embedding"
    with pytest.raises(DecryptionError):
        sealer.open(blob, "tpl:1:s2")  # moved to another student's key
    with pytest.raises(DecryptionError):
        Sealer(os.urandom(32)).open(blob, "tpl:1:s1")
    with pytest.raises(DecryptionError):
        sealer.open(blob[:-1] + bytes([blob[-1] ^ 1]), "tpl:1:s1")


def test_sealer_key_validation() -> None:
    assert Sealer.from_base64(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(ValueError):
        Sealer.from_base64("not base64!")
    with pytest.raises(ValueError):
        Sealer(b"short")


def test_memory_template_store() -> None:
    store = MemoryTemplateStore()
    store.put(_template("s1", "1"))
    store.put(_template("s1", "2"))
    store.put(_template("s2", "1"))
    assert store.get("s1", "1") is not None and store.get("s3", "1") is None
    assert store.students("1") == ["s1", "s2"]
    assert store.versions("s1") == ["1", "2"] and store.versions("s9") == []
    assert store.delete_student("s1") == 2
    assert store.versions("s1") == []
    assert store.get("s1", "2") is None
    store.fail = True
    with pytest.raises(TemplateStoreError):
        store.get("s2", "1")


def test_memory_object_store() -> None:
    store = MemoryObjectStore()
    store.put("b", "students/s1/a.jpg", b"1")
    store.put("b", "students/s1/b.jpg", b"2")
    store.put("b", "students/s2/a.jpg", b"3")
    assert store.get("b", "students/s1/a.jpg") == b"1"
    assert store.delete_prefix("b", "students/s1/") == 2
    assert store.keys("b") == ["students/s2/a.jpg"]
    with pytest.raises(ObjectStoreError):
        store.get("b", "students/s1/a.jpg")


def test_a_store_without_the_template_key_lists_versions_only() -> None:
    """The HTTP API holds no template key: it may say which versions a student has, and
    reading or writing a template fails loudly instead of falling back to anything."""
    from examgate.adapters.templates import RedisTemplateStore

    class FakeRedis:
        def smembers(self, key: str) -> set[bytes]:
            return {b"2", b"1"} if key.endswith(":s1") else set()

        def get(self, key: str) -> bytes:
            return b"sealed"

    store = RedisTemplateStore(FakeRedis(), None)
    assert store.versions("s1") == ["1", "2"]
    with pytest.raises(TemplateStoreError, match="no template key"):
        store.get("s1", "1")
