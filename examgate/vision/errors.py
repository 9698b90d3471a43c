"""One exception hierarchy for the face pipeline; every error carries a stable reason code."""

from __future__ import annotations

from enum import StrEnum


class DecodeReason(StrEnum):
    """Why bytes could not become an image; stable strings for logs, metrics and events."""

    EMPTY = "EMPTY"
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    TOO_LARGE = "TOO_LARGE"
    TOO_SMALL = "TOO_SMALL"
    TRUNCATED = "TRUNCATED"
    CORRUPT = "CORRUPT"


class VisionError(Exception):
    """Base of every error raised by ``examgate.vision``; ``reason`` is a stable code."""

    reason: str = "VISION_ERROR"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return f"[{self.reason}] {super().__str__()}"


class ImageDecodeError(VisionError):
    """The bytes are not a usable image (see :class:`DecodeReason`)."""

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(message, str(reason))


class ModelFileError(VisionError):
    """A model file is missing, unreadable or has an unexpected checksum."""

    reason = "MODEL_FILE"


class UnknownModelError(VisionError, KeyError):
    """No detector or embedder is registered under that name."""

    reason = "UNKNOWN_MODEL"


class MissingExtraError(VisionError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    reason = "MISSING_EXTRA"

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the optional '{extra}' extra: "
                         f"pip install 'examgate[{extra}]'")
        self.extra = extra


class AlignmentError(VisionError):
    """The landmarks do not define a usable similarity transform."""

    reason = "ALIGN_FAILED"
