"""Enrollment templates and the store that keeps them (Redis in production, memory in tests).

A template belongs to one model version: embeddings of different versions live
in different spaces and are never compared.
"""

from __future__ import annotations

import abc
import io
from dataclasses import dataclass, field

import numpy as np

from examgate.crypto import Sealer


@dataclass(frozen=True)
class Template:
    """A student's reference: the mean embedding plus per-image data for replay checks."""

    student_id: str
    model_version: str
    embedding: np.ndarray  # (D,) float32, L2-normalised mean of the image embeddings
    image_embeddings: np.ndarray  # (N, D) float32
    thumbnails: np.ndarray = field(  # (N, 32, 32) uint8 aligned-face thumbnails
        default_factory=lambda: np.zeros((0, 32, 32), np.uint8))

    @classmethod
    def from_embeddings(cls, student_id: str, model_version: str, embeddings: np.ndarray,
                        thumbnails: np.ndarray | None = None) -> Template:
        """Average L2-normalised image embeddings into one template."""
        emb = np.asarray(embeddings, np.float32).reshape(len(embeddings), -1)
        mean = emb.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        thumbs = (np.zeros((0, 32, 32), np.uint8) if thumbnails is None
                  else np.asarray(thumbnails, np.uint8))
        return cls(student_id, model_version, mean.astype(np.float32), emb, thumbs)

    def to_bytes(self) -> bytes:
        """Serialise (before encryption) as an uncompressed npz."""
        buf = io.BytesIO()
        np.savez(buf, embedding=self.embedding, image_embeddings=self.image_embeddings,
                 thumbnails=self.thumbnails,
                 meta=np.array([self.student_id, self.model_version]))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            student_id, model_version = (str(x) for x in npz["meta"])
            return cls(student_id, model_version, npz["embedding"], npz["image_embeddings"],
                       npz["thumbnails"])


class TemplateStoreError(RuntimeError):
    """The template store could not be reached or returned unreadable data."""


class TemplateStore(abc.ABC):
    """Port: where templates live, by model version and student id."""

    @abc.abstractmethod
    def get(self, student_id: str, model_version: str) -> Template | None:
        """The student's template for ``model_version``, or None when not enrolled."""

    @abc.abstractmethod
    def put(self, template: Template) -> None:
        """Store (or replace) a template."""

    @abc.abstractmethod
    def delete_student(self, student_id: str) -> int:
        """Remove the student's templates for every model version; returns how many."""

    @abc.abstractmethod
    def students(self, model_version: str) -> list[str]:
        """Ids of the students with a template for ``model_version``."""


class MemoryTemplateStore(TemplateStore):
    """In-memory store for unit tests."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Template] = {}
        self.fail = False  # lets a test simulate an outage

    def _check(self) -> None:
        if self.fail:
            raise TemplateStoreError("template store unavailable (simulated)")

    def get(self, student_id: str, model_version: str) -> Template | None:
        self._check()
        return self._data.get((model_version, student_id))

    def put(self, template: Template) -> None:
        self._check()
        self._data[(template.model_version, template.student_id)] = template

    def delete_student(self, student_id: str) -> int:
        self._check()
        keys = [k for k in self._data if k[1] == student_id]
        for k in keys:
            del self._data[k]
        return len(keys)

    def students(self, model_version: str) -> list[str]:
        self._check()
        return sorted(s for v, s in self._data if v == model_version)


class RedisTemplateStore(TemplateStore):
    """Templates in Redis, AES-GCM encrypted, one key per (model version, student)."""

    PREFIX = "examgate:tpl"

    def __init__(self, client, sealer: Sealer) -> None:  # client: redis.Redis
        self._r = client
        self._sealer = sealer

    def _key(self, model_version: str, student_id: str) -> str:
        return f"{self.PREFIX}:{model_version}:{student_id}"

    def _index(self, student_id: str) -> str:
        return f"{self.PREFIX}-versions:{student_id}"

    def get(self, student_id: str, model_version: str) -> Template | None:
        import redis

        key = self._key(model_version, student_id)
        try:
            blob = self._r.get(key)
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        if blob is None:
            return None
        try:
            return Template.from_bytes(self._sealer.open(blob, key))
        except ValueError as exc:
            raise TemplateStoreError(f"template {key} unreadable: {exc}") from exc

    def put(self, template: Template) -> None:
        import redis

        key = self._key(template.model_version, template.student_id)
        try:
            with self._r.pipeline(transaction=True) as pipe:
                pipe.set(key, self._sealer.seal(template.to_bytes(), key))
                pipe.sadd(self._index(template.student_id), template.model_version)
                pipe.sadd(f"{self.PREFIX}-students:{template.model_version}",
                          template.student_id)
                pipe.execute()
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc

    def delete_student(self, student_id: str) -> int:
        import redis

        try:
            versions = [v.decode() for v in self._r.smembers(self._index(student_id))]
            with self._r.pipeline(transaction=True) as pipe:
                for v in versions:
                    pipe.delete(self._key(v, student_id))
                    pipe.srem(f"{self.PREFIX}-students:{v}", student_id)
                pipe.delete(self._index(student_id))
                pipe.execute()
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return len(versions)

    def students(self, model_version: str) -> list[str]:
        import redis

        try:
            members = self._r.smembers(f"{self.PREFIX}-students:{model_version}")
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return sorted(m.decode() for m in members)
