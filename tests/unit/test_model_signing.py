"""Model versions are signed when registered and checked when loaded (review finding 5):
the file hashes and thresholds live beside the files they describe, so without a signature
they catch corruption, not someone who can write to the artifact store."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from examgate.adapters.registry import SIGNATURE_FILE, SPEC_FILE, RegistryError, check_signature
from examgate.core.signing import (
    DEV_MODEL_SIGNING_KEY,
    DEV_MODEL_VERIFY_KEY,
    ModelSigner,
    ModelVerifier,
    SignatureError,
)


def _other_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_a_signature_verifies_only_the_bytes_it_signed() -> None:
    signer = ModelSigner.from_base64(DEV_MODEL_SIGNING_KEY)
    assert signer.public_key == DEV_MODEL_VERIFY_KEY
    verifier = ModelVerifier([signer.public_key])
    signature = signer.sign(b'{"thresholds": {"accept": 0.46}}')
    verifier.verify(b'{"thresholds": {"accept": 0.46}}', signature)
    with pytest.raises(SignatureError, match="does not match"):
        verifier.verify(b'{"thresholds": {"accept": 0.10}}', signature)


def test_a_key_that_is_not_trusted_is_refused_and_rotation_keeps_old_versions() -> None:
    old, new = ModelSigner.from_base64(_other_key()), ModelSigner.from_base64(_other_key())
    data = b"spec"
    with pytest.raises(SignatureError, match="not a trusted key"):
        ModelVerifier([new.public_key]).verify(data, old.sign(data))
    both = ModelVerifier([new.public_key, old.public_key])  # rotation: trust both a while
    both.verify(data, old.sign(data))
    both.verify(data, new.sign(data))


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match="key"):
        ModelSigner.from_base64(bad)
    with pytest.raises(ValueError, match="key"):
        ModelVerifier([bad])


def _bundle(tmp_path: Path, signer: ModelSigner | None) -> Path:
    spec = json.dumps({"thresholds": {"accept": 0.46, "reject": 0.37}}).encode()
    (tmp_path / SPEC_FILE).write_bytes(spec)
    if signer is not None:
        (tmp_path / SIGNATURE_FILE).write_text(json.dumps(signer.sign(spec)))
    return tmp_path


def test_a_tampered_spec_is_refused_even_when_signatures_are_optional(tmp_path: Path) -> None:
    signer = ModelSigner.from_base64(_other_key())
    verifier = ModelVerifier([signer.public_key])
    folder = _bundle(tmp_path, signer)
    check_signature(folder, verifier, require=False, what="v1")
    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["thresholds"]["accept"] = 0.10  # an easier ACCEPT, hashes untouched
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(RegistryError, match="signature"):
        check_signature(folder, verifier, require=False, what="v1")


def test_an_unsigned_version_is_refused_only_where_signatures_are_required(
        tmp_path: Path) -> None:
    folder = _bundle(tmp_path, None)
    verifier = ModelVerifier([ModelSigner.from_base64(_other_key()).public_key])
    check_signature(folder, verifier, require=False, what="v1")  # logged, served
    with pytest.raises(RegistryError, match="not signed"):
        check_signature(folder, verifier, require=True, what="v1")
    with pytest.raises(RegistryError, match="no trusted key"):
        check_signature(_bundle(tmp_path, ModelSigner.from_base64(_other_key())), None,
                        require=True, what="v1")
