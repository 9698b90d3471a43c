"""The pictures a proctor compares: the captured frame (with its burst) and the enrolled photo.

Enrolled photos are stored encrypted; the console decrypts them itself and serves
them only to the logged-in user a short-lived signed link was made for. Captured
review frames and their burst frames are plain JPEGs in the frames bucket: the browser
gets a short-lived presigned link to the object store, or (``frame_links = proxy``) the
same kind of signed console link as the photos.

Every console link names the exam of the decision it was made for, and is served only
while that exam is one of the user's: a link is no way round per-exam authorisation.
Presigned frame links are made only for the user's exams, and last ``frame_link_ttl_s``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from examgate.core.crypto import DecryptionError, Sealer
from examgate.core.ports import ObjectStore, ObjectStoreError

log = logging.getLogger("examgate.console.images")

PHOTO = "photo"
FRAME = "frame"


def _keeps_frames(decision: dict[str, Any]) -> bool:
    """Whether the verifier keeps frames for this decision: REVIEW, or a presentation attack."""
    return decision["outcome"] == "REVIEW" or decision.get("reason") == "PRESENTATION_ATTACK"


class ImageUnavailable(LookupError):
    """The link expired or is not this user's, or the image cannot be read."""


@dataclass(frozen=True)
class Picture:
    """An image the page shows: its link, or why there is none."""

    url: str | None
    missing: str = ""


class ImageLinks:
    """Makes the links a review card shows and serves the console's own image links."""

    def __init__(self, objects: ObjectStore, sealer: Sealer, secret: str, *,
                 enrollment_bucket: str, frame_ttl_s: int, photo_ttl_s: int,
                 frame_mode: str = "presigned", max_photos: int = 3) -> None:
        self._objects = objects
        self._sealer = sealer
        self._signer = URLSafeTimedSerializer(secret, salt="examgate-console-image")
        self._enrollment_bucket = enrollment_bucket
        self._frame_ttl_s = frame_ttl_s
        self._photo_ttl_s = photo_ttl_s
        self._frame_mode = frame_mode
        self._max_photos = max_photos

    def _console_link(self, kind: str, bucket: str, key: str, username: str, exam_id: str,
                      sha256: str = "") -> str:
        token = self._signer.dumps({"k": kind, "b": bucket, "o": key, "u": username,
                                    "e": exam_id, "h": sha256})
        return f"/img/{token}"

    def frame(self, decision: dict[str, Any], username: str) -> Picture:
        """The captured frame kept for review, if the decision has one."""
        ref = decision.get("review_frame")
        if not ref:
            why = ("The frame could not be kept for review." if _keeps_frames(decision) else
                   "Only REVIEW decisions (and presentation attacks) keep the captured frame.")
            return Picture(None, why)
        return self._frame_link(ref, username, decision["exam_id"])

    def burst(self, decision: dict[str, Any], username: str) -> list[Picture]:
        """The burst frames kept beside the frame (liveness evidence), linked exactly like
        the frame: same lifetime, same user, same checksum check when proxied."""
        return [self._frame_link(ref, username, decision["exam_id"])
                for ref in decision.get("review_burst") or []]

    def _frame_link(self, ref: dict[str, Any], username: str, exam_id: str) -> Picture:
        if self._frame_mode == "proxy":
            return Picture(self._console_link(FRAME, ref["bucket"], ref["key"], username,
                                              exam_id, ref["sha256"]))
        try:
            return Picture(self._objects.presigned_url(
                ref["bucket"], ref["key"], timedelta(seconds=self._frame_ttl_s)))
        except ObjectStoreError as exc:
            log.warning("images: cannot link frame %s: %s", ref["key"], exc)
            return Picture(None, "The object store cannot link the frame.")

    def enrolled(self, student_id: str, username: str, exam_id: str) -> list[Picture]:
        """Links to the student's enrolled photos (at most ``max_photos``), for a card of
        exam ``exam_id``."""
        try:
            keys = self._objects.keys(self._enrollment_bucket, f"students/{student_id}/")
        except ObjectStoreError as exc:
            log.warning("images: cannot list enrolled photos of %s: %s", student_id, exc)
            return [Picture(None, "The object store is unavailable.")]
        if not keys:
            return [Picture(None, "No enrolled photo for this student.")]
        return [Picture(self._console_link(PHOTO, self._enrollment_bucket, k, username, exam_id))
                for k in keys[:self._max_photos]]

    def open(self, token: str, username: str, sees: Callable[[str], bool]
             ) -> tuple[bytes, str]:
        """The bytes and content type behind a console link made for ``username``, while
        ``sees`` still allows the link's exam."""
        try:
            claim, signed_at = self._signer.loads(token, return_timestamp=True)
        except BadSignature as exc:
            raise ImageUnavailable("invalid image link") from exc
        ttl = self._photo_ttl_s if claim.get("k") == PHOTO else self._frame_ttl_s
        if (datetime.now(UTC) - signed_at).total_seconds() > ttl:
            raise ImageUnavailable("expired image link")
        if claim.get("u") != username:
            raise ImageUnavailable("this image link was made for someone else")
        exam = claim.get("e")
        # A link without an exam (made before exams were checked) is refused, not trusted.
        if not isinstance(exam, str) or not sees(exam):
            log.warning("images: %s was refused a link of exam %r (not one of theirs)",
                        username, exam)
            raise ImageUnavailable("this image is not of one of your exams")
        bucket, key = claim["b"], claim["o"]
        try:
            blob = self._objects.get(bucket, key)
            if claim["k"] == PHOTO:
                # The storage key is the encryption context, as the enroller wrote it.
                return self._sealer.open(blob, key), "image/jpeg"
        except (ObjectStoreError, DecryptionError) as exc:
            log.warning("images: cannot serve %s/%s: %s", bucket, key, exc)
            raise ImageUnavailable("the image cannot be read") from exc
        if claim.get("h") and hashlib.sha256(blob).hexdigest() != claim["h"]:
            log.warning("images: %s/%s does not match its checksum", bucket, key)
            raise ImageUnavailable("the frame does not match its checksum")
        return blob, "image/jpeg"
