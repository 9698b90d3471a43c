"""Encryption at rest for templates and enrollment images (AES-256-GCM).

The associated data binds each ciphertext to where it is stored, so a blob
copied to another student's key fails to decrypt instead of matching.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A ciphertext was tampered with, moved, or encrypted under another key."""


class Sealer:
    """Seals and opens blobs with one AES-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("the template key must be 16, 24 or 32 bytes (base64 in settings)")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, key_b64: str) -> Sealer:
        """Build from the base64 key kept in settings."""
        try:
            key = base64.b64decode(key_b64, validate=True)
        except ValueError as exc:
            raise ValueError("the template key is not valid base64") from exc
        return cls(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext``; ``context`` (e.g. the storage key) must match on open."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob made by :meth:`seal` with the same ``context``."""
        if len(blob) <= NONCE_BYTES:
            raise DecryptionError("ciphertext too short")
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"cannot decrypt {context}: wrong key or tampered data") from exc
