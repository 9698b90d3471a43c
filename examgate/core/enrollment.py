"""Enrollment, transport-free: reference images in, encrypted template and images stored.

Original images are kept (encrypted) in the object store so that templates can
be rebuilt for a new model version before it is promoted.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from examgate.core import lookalikes
from examgate.core.crypto import DecryptionError, Sealer
from examgate.core.erasure import Erased, erase_training_copies
from examgate.core.ports import ObjectStore, Template, TemplateStore
from examgate.core.verify import FaceAnalyzer

log = logging.getLogger("examgate.enrollment")


class EnrollmentError(ValueError):
    """An enrollment request that cannot be carried out (reason code + words)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StoredPhotoUnreadable(EnrollmentError):
    """A stored enrollment photo no longer decrypts (sealed under an earlier template key, or
    altered); nothing can be built on it, and only a REPLACE (or DELETE) gets past it."""

    def __init__(self, student_id: str, key: str) -> None:
        super().__init__(
            "STORED_PHOTO_UNREADABLE",
            f"the stored enrollment photo {key} of {student_id} cannot be decrypted with the "
            "current template key (enrolled before a key change, or altered); ADD and "
            "re-embedding need it, and retrying will not help: re-enroll the student with "
            "REPLACE and fresh photos")
        self.student_id = student_id
        self.key = key


@dataclass(frozen=True)
class EnrollmentResult:
    """What an enrollment request did."""

    student_id: str
    action: str
    images_used: int
    model_versions: tuple[str, ...]


def check_photo(analyzer: FaceAnalyzer | None, data: bytes) -> str | None:
    """Why the photo cannot serve for enrollment (one clear face), or None when it can."""
    if analyzer is None:
        return None
    a = analyzer.analyse(data)
    if a.error:
        return a.error
    if a.face_count == 0:
        return "NO_FACE"
    if a.face_count > 1:
        return "MULTIPLE_FACES"
    if a.quality_failures:
        return "LOW_QUALITY: " + ", ".join(a.quality_failures)
    return None


def _request_prefix(student_id: str, event_id: str) -> str:
    """Where the images of one enrollment request are stored."""
    return f"students/{student_id}/{event_id}-"


def _image_key(student_id: str, event_id: str, index: int) -> str:
    return f"{_request_prefix(student_id, event_id)}{index}.jpg.enc"


def build_template(analyzer: FaceAnalyzer, student_id: str, images: list[bytes]) -> Template:
    """A template from every usable image; refuses (:class:`EnrollmentError`) when none
    has exactly one good face. The enroll processor and ``examgate evaluate`` both use it."""
    embeddings, thumbs, problems = [], [], []
    for i, image in enumerate(images):
        try:
            a = analyzer.analyse(image, enrolling=True)
        except Exception as exc:  # noqa: BLE001 - a photo the pipeline chokes on is unusable
            log.warning("enroll: image %d of %s: the face pipeline failed", i, student_id,
                        exc_info=True)
            problems.append(f"image {i}: analysis failed: {type(exc).__name__}: {exc}")
            continue
        if a.error or a.embedding is None or a.face_count != 1 or a.quality_failures:
            why = a.error or ("NO_FACE" if a.face_count == 0 else
                              "MULTIPLE_FACES" if a.face_count > 1 else
                              ",".join(a.quality_failures) or "NO_EMBEDDING")
            problems.append(f"image {i}: {why}")
            continue
        embeddings.append(a.embedding)
        thumbs.append(a.thumbnail if a.thumbnail is not None
                      else np.zeros((32, 32), np.uint8))
    if not embeddings:
        raise EnrollmentError("NO_USABLE_IMAGE", "; ".join(problems) or "no images given")
    return Template.from_embeddings(student_id, analyzer.model_version,
                                    np.stack(embeddings), np.stack(thumbs))


class Enroller:
    """Carries out ADD, REPLACE and DELETE for every active model version."""

    def __init__(self, templates: TemplateStore, objects: ObjectStore, sealer: Sealer,
                 enrollment_bucket: str, frames_bucket: str, *,
                 training_bucket: str | None = None) -> None:
        self.templates = templates
        self.objects = objects
        self.sealer = sealer
        self.bucket = enrollment_bucket
        self.frames_bucket = frames_bucket
        # None only where the enroller never deletes (re-embedding for a new model version).
        self.training_bucket = training_bucket

    def fetch_image(self, image: dict[str, Any]) -> bytes:
        """One image of a request: inline, or from the object store with its checksum checked.

        A missing or altered object is the request's fault (EnrollmentError); only a store
        that does not answer raises ObjectStoreError, the one failure worth retrying.
        """
        if "data" in image:
            return image["data"]
        bucket, key = image["bucket"], image["key"]
        if key not in self.objects.keys(bucket, key):
            raise EnrollmentError("IMAGE_MISSING", f"{bucket}/{key} does not exist")
        data = self.objects.get(bucket, key)
        if hashlib.sha256(data).hexdigest() != image["sha256"]:
            raise EnrollmentError("IMAGE_CORRUPT", f"{bucket}/{key} fails its SHA-256 check")
        return data

    def stored_images(self, student_id: str, *, skip_event: str | None = None) -> list[bytes]:
        """The student's enrollment images, decrypted (for re-embedding), leaving out those
        stored by request ``skip_event``; StoredPhotoUnreadable when one does not decrypt."""
        out = []
        for key in self.objects.keys(self.bucket, f"students/{student_id}/"):
            if skip_event is not None and key.startswith(_request_prefix(student_id, skip_event)):
                continue
            try:
                out.append(self.sealer.open(self.objects.get(self.bucket, key), key))
            except DecryptionError as exc:
                raise StoredPhotoUnreadable(student_id, key) from exc
        return out

    def build_template(self, analyzer: FaceAnalyzer, student_id: str,
                       images: list[bytes]) -> Template:
        """Embed every usable image (see :func:`build_template`)."""
        return build_template(analyzer, student_id, images)

    def apply(self, request: dict[str, Any], images: list[bytes],
              analyzers: list[FaceAnalyzer]) -> EnrollmentResult:
        """Carry out one decoded Enrollment request with its images already fetched."""
        student, action = request["student_id"], request["action"]
        if action == "DELETE":
            self.delete(student)
            return EnrollmentResult(student, action, 0, ())
        if not images:
            raise EnrollmentError("NO_USABLE_IMAGE", f"{action} without images")
        # A replayed ADD finds its own photos already stored: they must not count twice.
        previous = (self.stored_images(student, skip_event=request["event_id"])
                    if action == "ADD" else [])
        templates = [lookalikes.link(self.templates, self.build_template(a, student,
                                                                         previous + images),
                                     a.thresholds.reject) for a in analyzers]
        if action == "REPLACE":
            self.objects.delete_prefix(self.bucket, f"students/{student}/")
        for i, image in enumerate(images):
            key = _image_key(student, request["event_id"], i)
            self.objects.put(self.bucket, key, self.sealer.seal(image, key))
        # Templates of versions not loaded now were built from the old photos (perhaps
        # someone else's): they go, and a version switch rebuilds them (reembed_all) from
        # the photos kept now. Until then that version says NOT_ENROLLED (REVIEW).
        self.templates.delete_student(student)
        for t in templates:
            self.templates.put(t)
        used = len(previous) + len(images)
        log.info("enroll: %s %s with %d image(s) for model version(s) %s", action, student,
                 used, ", ".join(t.model_version for t in templates))
        return EnrollmentResult(student, action, used,
                                tuple(t.model_version for t in templates))

    def reembed(self, analyzer: FaceAnalyzer, student_id: str) -> Template:
        """Build and store the student's template for another model version."""
        template = lookalikes.link(self.templates, self.build_template(
            analyzer, student_id, self.stored_images(student_id)), analyzer.thresholds.reject)
        self.templates.put(template)
        return template

    def delete(self, student_id: str) -> None:
        """Erase the student's templates, enrollment images, review frames and training copies.

        Every step finds nothing to do when run again, so a DELETE that failed half-way
        (a store outage: a replayable dead letter) is finished by replaying it.
        """
        n_tpl = self.templates.delete_student(student_id)
        n_img = self.objects.delete_prefix(self.bucket, f"students/{student_id}/")
        # Frames before training copies: a dataset built after this cannot copy them, so
        # only the versions already written still hold the student.
        n_frames = self.objects.delete_prefix(self.frames_bucket, f"review/{student_id}/")
        erased = (erase_training_copies(self.objects, self.training_bucket, student_id)
                  if self.training_bucket is not None else Erased())
        log.info("enroll: deleted %s (%d template(s), %d image(s), %d review frame(s), "
                 "%d training sample(s) from %d dataset version(s))", student_id, n_tpl,
                 n_img, n_frames, erased.samples, erased.versions)
