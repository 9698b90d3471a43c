"""The ports of the domain: small abstract classes for what lives outside the process.

The real adapters (Redis, S3) and in-memory ones for unit tests are in
``examgate.adapters``; the domain (verify, enrollment) sees only these classes.
A template belongs to one model version: embeddings of different versions live
in different spaces and are never compared.
"""

from __future__ import annotations

import abc
import io
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np


@dataclass(frozen=True)
class Template:
    """A student's reference: the mean embedding plus per-image data for replay checks."""

    student_id: str
    model_version: str
    embedding: np.ndarray  # (D,) float32, L2-normalised mean of the image embeddings
    image_embeddings: np.ndarray  # (N, D) float32
    thumbnails: np.ndarray = field(  # (N, 32, 32) uint8 aligned-face thumbnails
        default_factory=lambda: np.zeros((0, 32, 32), np.uint8))
    # Other enrolled students this one resembles (student id, template similarity), most
    # similar first: their check-ins are compared with these too (examgate.core.lookalikes).
    lookalikes: tuple[tuple[str, float], ...] = ()

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
                 meta=np.array([self.student_id, self.model_version]),
                 lookalike_ids=np.array([s for s, _ in self.lookalikes], dtype=str),
                 lookalike_sims=np.array([v for _, v in self.lookalikes], dtype=np.float64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            student_id, model_version = (str(x) for x in npz["meta"])
            # Templates written before look-alikes were kept have none.
            lookalikes = tuple(zip((str(x) for x in npz["lookalike_ids"]),
                                   (float(v) for v in npz["lookalike_sims"]), strict=True)
                               ) if "lookalike_ids" in npz.files else ()
            return cls(student_id, model_version, npz["embedding"], npz["image_embeddings"],
                       npz["thumbnails"], lookalikes)


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

    @abc.abstractmethod
    def versions(self, student_id: str) -> list[str]:
        """The model versions the student has a template for (none: not enrolled)."""


class EventLedgerError(RuntimeError):
    """The store of seen event ids could not be reached."""


class EventLedger(abc.ABC):
    """Port: which input record first carried each event id, for a while."""

    @abc.abstractmethod
    def first_seen(self, event_id: str, where: str, ttl_s: float) -> str:
        """Where ``event_id`` was first seen; notes ``where`` (for ``ttl_s``) when it is new.

        The caller compares the answer with ``where``: the same record read again (a
        transaction that aborted) is not a second event, another record with the id is.
        """


class ObjectStoreError(RuntimeError):
    """The object store could not be reached, or the object is missing."""


class ObjectStore(abc.ABC):
    """Port: put, get and delete blobs by bucket and key."""

    @abc.abstractmethod
    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        """Store ``data`` at ``bucket/key``."""

    @abc.abstractmethod
    def get(self, bucket: str, key: str) -> bytes:
        """The bytes at ``bucket/key``; ObjectStoreError when missing or unreachable."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete the object at ``bucket/key``; no error when there is none."""

    @abc.abstractmethod
    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""

    @abc.abstractmethod
    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix``."""

    def presigned_url(self, bucket: str, key: str, expires: timedelta) -> str:
        """A short-lived download link (stores that cannot make one raise)."""
        raise ObjectStoreError(f"{type(self).__name__} cannot presign URLs")
