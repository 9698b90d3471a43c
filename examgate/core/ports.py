"""The ports of the domain: small abstract classes for what lives outside the process.

The real adapters (Redis, S3) and in-memory ones for unit tests are in
``examgate.adapters``; the domain (verify, enrollment) sees only these classes.
A template belongs to one model version: embeddings of different versions live
in different spaces and are never compared.
"""

from __future__ import annotations

import abc
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import fastavro
import numpy as np

# How a template is stored (before encryption): this magic, then one Avro record of
# TEMPLATE_SCHEMA (fastavro, schemaless: the schema is this file's). Arrays travel as raw
# little-endian bytes with their shape. Templates written before it are uncompressed npz
# files (they start with "PK") and are still read. Decoding one takes 1.1 ms (a zip and
# six array headers parsed), an Avro record 22 us (`examgate bench templates`): it matters
# where a check-in reads up to 9 templates and an enrollment every one of its version.
TEMPLATE_MAGIC = b"EGT\x01"
TEMPLATE_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "Template", "namespace": "examgate.storage",
    "fields": [
        {"name": "student_id", "type": "string"},
        {"name": "model_version", "type": "string"},
        {"name": "embedding", "type": "bytes"},  # float32 (D,)
        {"name": "image_embeddings", "type": "bytes"},  # float32 (N, D)
        {"name": "image_embeddings_shape", "type": {"type": "array", "items": "int"}},
        {"name": "thumbnails", "type": "bytes"},  # uint8 (N, 32, 32)
        {"name": "thumbnails_shape", "type": {"type": "array", "items": "int"}},
        {"name": "lookalikes", "type": {"type": "array", "items": {
            "type": "record", "name": "Lookalike",
            "fields": [{"name": "student_id", "type": "string"},
                       {"name": "similarity", "type": "double"}]}}},
    ],
})


def _array(data: bytes, dtype: str, shape: Iterable[int]) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype).reshape(tuple(shape)).copy()


def _mean_of(images: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """A stored template's embedding as :meth:`Template.from_embeddings` makes it now: the
    mean of its image embeddings (releases before stored it re-normalised), or the stored
    one when it kept no image embeddings of that width."""
    if images.ndim != 2 or not len(images) or images.shape[1] != stored.shape[-1]:
        return stored
    with np.errstate(invalid="ignore", over="ignore"):  # damaged bytes: NaN, judged later
        return np.asarray(images.mean(axis=0), np.float32)


@dataclass(frozen=True)
class Template:
    """A student's reference: the mean embedding plus per-image data for replay checks."""

    student_id: str
    model_version: str
    # (D,) float32: the mean of the L2-normalised image embeddings, not re-normalised, so a
    # probe's similarity to it is the mean of its similarities to the photos. Thresholds
    # are calibrated on one photo a person; re-normalising an average of several raises an
    # impostor's score too (held-out LFW, three photos: FAR at the accept threshold 2.1x
    # one photo's), the mean of the scores does not (0.25x).
    embedding: np.ndarray
    image_embeddings: np.ndarray  # (N, D) float32
    thumbnails: np.ndarray = field(  # (N, 32, 32) uint8 aligned-face thumbnails
        default_factory=lambda: np.zeros((0, 32, 32), np.uint8))
    # Other enrolled students this one resembles (student id, template similarity), most
    # similar first: their check-ins are compared with these too (examgate.core.lookalikes).
    lookalikes: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_embeddings(cls, student_id: str, model_version: str, embeddings: np.ndarray,
                        thumbnails: np.ndarray | None = None) -> Template:
        """One template from image embeddings: each L2-normalised, then their mean (see
        ``embedding``)."""
        emb = np.asarray(embeddings, np.float32).reshape(len(embeddings), -1)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        mean = emb.mean(axis=0)
        thumbs = (np.zeros((0, 32, 32), np.uint8) if thumbnails is None
                  else np.asarray(thumbnails, np.uint8))
        return cls(student_id, model_version, mean.astype(np.float32), emb, thumbs)

    def to_bytes(self) -> bytes:
        """Serialise (before encryption): :data:`TEMPLATE_MAGIC` and an Avro record."""
        emb = np.ascontiguousarray(self.embedding, "<f4")
        images = np.ascontiguousarray(self.image_embeddings, "<f4")
        thumbs = np.ascontiguousarray(self.thumbnails, np.uint8)
        buf = io.BytesIO()
        buf.write(TEMPLATE_MAGIC)
        fastavro.schemaless_writer(buf, TEMPLATE_SCHEMA, {
            "student_id": self.student_id, "model_version": self.model_version,
            "embedding": emb.tobytes(),
            "image_embeddings": images.tobytes(), "image_embeddings_shape": list(images.shape),
            "thumbnails": thumbs.tobytes(), "thumbnails_shape": list(thumbs.shape),
            "lookalikes": [{"student_id": s, "similarity": float(v)}
                           for s, v in self.lookalikes],
        })
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Inverse of :meth:`to_bytes`; also reads the npz of templates stored before it.
        ValueError when ``data`` is neither."""
        if data.startswith(TEMPLATE_MAGIC):
            try:
                r = fastavro.schemaless_reader(io.BytesIO(data[len(TEMPLATE_MAGIC):]),
                                               TEMPLATE_SCHEMA, None)
            except (EOFError, IndexError, OverflowError, TypeError, UnicodeDecodeError,
                    ValueError) as exc:
                raise ValueError(f"template record unreadable: {exc}") from exc
            if not isinstance(r, dict):
                raise ValueError("template record unreadable")
            try:
                images = _array(r["image_embeddings"], "<f4", r["image_embeddings_shape"])
                return cls(r["student_id"], r["model_version"],
                           _mean_of(images, _array(r["embedding"], "<f4", (-1,))), images,
                           _array(r["thumbnails"], "u1", r["thumbnails_shape"]),
                           tuple((x["student_id"], float(x["similarity"]))
                                 for x in r["lookalikes"]))
            except ValueError as exc:  # a shape that does not fit its bytes
                raise ValueError(f"template arrays unreadable: {exc}") from exc
        if not data.startswith(b"PK"):
            raise ValueError("not a template (neither the current format nor the npz before)")
        return cls._from_npz(data)

    def to_npz(self) -> bytes:
        """``self`` as releases before :data:`TEMPLATE_MAGIC` stored it (an uncompressed npz).
        Nothing stores this any more; it is kept beside its reader to test and measure that
        such templates are still read."""
        buf = io.BytesIO()
        np.savez(buf, embedding=self.embedding, image_embeddings=self.image_embeddings,
                 thumbnails=self.thumbnails, meta=np.array([self.student_id, self.model_version]),
                 lookalike_ids=np.array([s for s, _ in self.lookalikes], dtype=str),
                 lookalike_sims=np.array([v for _, v in self.lookalikes], dtype=np.float64))
        return buf.getvalue()

    @classmethod
    def _from_npz(cls, data: bytes) -> Template:
        """A template as stored before :data:`TEMPLATE_MAGIC` (an uncompressed npz)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            student_id, model_version = (str(x) for x in npz["meta"])
            # Templates written before look-alikes were kept have none.
            lookalikes = tuple(zip((str(x) for x in npz["lookalike_ids"]),
                                   (float(v) for v in npz["lookalike_sims"]), strict=True)
                               ) if "lookalike_ids" in npz.files else ()
            images = npz["image_embeddings"]
            return cls(student_id, model_version, _mean_of(images, npz["embedding"]), images,
                       npz["thumbnails"], lookalikes)


class TemplateStoreError(RuntimeError):
    """The template store could not be reached or returned unreadable data."""


class TemplateStore(abc.ABC):
    """Port: where templates live, by model version and student id."""

    @abc.abstractmethod
    def get(self, student_id: str, model_version: str) -> Template | None:
        """The student's template for ``model_version``, or None when not enrolled."""

    def get_many(self, student_ids: Iterable[str], model_version: str) -> dict[str, Template]:
        """The templates of ``student_ids`` for ``model_version``, by student; those not
        enrolled are left out. Stores that can fetch many at once override this loop."""
        return {s: t for s in student_ids if (t := self.get(s, model_version)) is not None}

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

    def generation(self, model_version: str) -> int | None:
        """A number that changes whenever a template of ``model_version`` is stored or
        erased, so that a reader can tell its copy of the cohort is still current; None:
        this store keeps no such counter (readers read again after a while)."""
        return None


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
