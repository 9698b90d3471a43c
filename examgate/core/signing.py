"""Signatures of model versions (Ed25519): whoever registers a version signs its spec (the
file hashes, detector, embedder and thresholds); whoever serves it checks the signature.

The spec sits in the artifact store beside the files it describes, so its hashes alone
catch corruption, not tampering: someone able to write there could swap an ONNX file
and its hash, or lower a threshold. The private key stays with the registering jobs
(bootstrap, retrain); the processors hold only public keys, several at once during a
key rotation. Each signature names its key by an id (a digest of the public key).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Public development key pair: a laptop stack signs and checks with no set-up, and
# `environment: production` refuses both.
DEV_MODEL_SIGNING_KEY = base64.b64encode(b"examgate-dev-model-signing-key!!").decode()


class SignatureError(ValueError):
    """A signature is malformed, by an untrusted key, or not over these bytes."""


def _raw(key_b64: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except ValueError as exc:
        raise ValueError(f"the model {what} key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"the model {what} key must be 32 bytes (Ed25519), got {len(raw)}")
    return raw


def key_id(public_key: bytes) -> str:
    """A short, stable name of a public key (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class ModelSigner:
    """Signs specs with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_base64(cls, seed_b64: str) -> ModelSigner:
        """From the base64 32-byte private key kept in settings."""
        return cls(Ed25519PrivateKey.from_private_bytes(_raw(seed_b64, "signing")))

    @property
    def public_key(self) -> str:
        """The base64 public key, for the servers' trusted keys."""
        return base64.b64encode(self._public).decode()

    def sign(self, data: bytes) -> dict[str, str]:
        """The signature record of ``data``: key id and base64 signature."""
        return {"algorithm": "ed25519", "key_id": key_id(self._public),
                "signature": base64.b64encode(self._key.sign(data)).decode()}


class ModelVerifier:
    """Checks signatures against a set of trusted public keys."""

    def __init__(self, public_keys: Iterable[str], *, trusted_in: str = "mlflow.trusted_keys",
                 what: str = "the spec") -> None:
        keys = [_raw(k, "verify") for k in public_keys]
        self._keys = {key_id(k): Ed25519PublicKey.from_public_bytes(k) for k in keys}
        self._trusted_in, self._what = trusted_in, what  # for the messages

    def verify(self, data: bytes, signature: dict[str, str]) -> None:
        """Return if ``signature`` is a trusted key's over ``data``; SignatureError otherwise."""
        if not isinstance(signature, dict) or signature.get("algorithm") != "ed25519":
            raise SignatureError("not an ed25519 signature record")
        key = self._keys.get(str(signature.get("key_id")))
        if key is None:
            raise SignatureError(f"signed by key {signature.get('key_id')}, which is not a "
                                 f"trusted key ({self._trusted_in})")
        try:
            key.verify(base64.b64decode(str(signature.get("signature")), validate=True), data)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(f"the signature does not match {self._what}: it was "
                                 "changed after signing") from exc


DEV_MODEL_VERIFY_KEY = ModelSigner.from_base64(DEV_MODEL_SIGNING_KEY).public_key
