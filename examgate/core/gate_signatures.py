"""Check-ins signed by the gate whose name they carry.

Each gate holds an Ed25519 key pair (``examgate models keygen`` makes one; the HTTP API holds
one for the kiosks it serves) and signs the encoded CheckIn it publishes; the signature
travels in the record's Kafka header ``examgate-gate-signature``. The processors hold each
gate's public keys (``checkin.gate_keys``, several during a rotation) and decide a check-in
on the face only if a key of the gate it names signed exactly those bytes: a gate's stolen
credential, or a gate in one hall, cannot check students in as another gate. A check-in
that fails is REVIEW ``INVALID_EVENT`` with the reason, never ACCEPT.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from examgate.core.signing import ModelSigner, ModelVerifier, SignatureError

if TYPE_CHECKING:
    from examgate.core.checkin_settings import CheckInSettings

SIGNATURE_HEADER = "examgate-gate-signature"


def signature_header(signer: ModelSigner, payload: bytes) -> bytes:
    """The header value a gate sends with ``payload`` (the encoded CheckIn)."""
    return json.dumps(signer.sign(payload), separators=(",", ":")).encode()


def signed_headers(signer: ModelSigner | None, payload: bytes
                   ) -> list[tuple[str, str | bytes | None]] | None:
    """The Kafka headers a record ``payload`` goes out with (None: an unsigned publisher)."""
    return None if signer is None else [(SIGNATURE_HEADER, signature_header(signer, payload))]


def signature_in(headers: Mapping[str, str | bytes | None]
                 | Sequence[tuple[str, str | bytes | None]] | None) -> bytes | None:
    """The gate signature header among a consumed record's headers, if any."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in pairs:
        if key == SIGNATURE_HEADER:
            return value.encode() if isinstance(value, str) else value
    return None


class GateSignatures:
    """The gates' public keys, by gate id pattern, and whether every gate must sign."""

    def __init__(self, keys: Mapping[str, Sequence[str]], required: bool = False) -> None:
        self._keys = {pattern: ModelVerifier(k, trusted_in="checkin.gate_keys",
                                             what="the check-in")
                      for pattern, k in keys.items()}
        self.required = required

    @classmethod
    def from_settings(cls, checkin: CheckInSettings, *,
                      production: bool = False) -> GateSignatures | None:
        """None when no gate has a key and none is required to (nothing to check).
        Production always requires them, as it requires signed model versions."""
        required = checkin.require_gate_signatures or production
        if not checkin.gate_keys and not required:
            return None
        return cls(checkin.gate_keys, required)

    def problem(self, gate_id: str, payload: bytes, header: bytes | None) -> str | None:
        """Why the check-in may not be decided in ``gate_id``'s name, or None."""
        verifiers = [v for pattern, v in self._keys.items()
                     if fnmatch.fnmatchcase(gate_id, pattern)]
        if not verifiers:
            return (f"no key for gate {gate_id} (checkin.gate_keys) and signatures are "
                    f"required") if self.required else None
        if header is None:
            return f"the check-in is unsigned; gate {gate_id} signs its check-ins"
        try:
            signature = json.loads(header)
        except (ValueError, UnicodeDecodeError):
            return f"the gate signature header is malformed (gate {gate_id})"
        for verifier in verifiers:
            try:
                verifier.verify(payload, signature)
                return None
            except SignatureError:
                continue
        return f"the check-in is not signed by a key of gate {gate_id}"
