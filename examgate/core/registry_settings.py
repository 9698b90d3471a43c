"""Settings of the experiment tracker and model registry: a section of
:class:`examgate.core.settings.Settings`.

It lives in its own module only to keep ``settings.py`` within the project's module size;
it is configured exactly like the sections there (frozen, unknown keys rejected, every
default validated) and is re-exported as ``examgate.core.settings.MlflowSettings``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from examgate.core.signing import DEV_MODEL_SIGNING_KEY, DEV_MODEL_VERIFY_KEY, ModelVerifier


class MlflowSettings(BaseModel):
    """The experiment tracker and model registry, and the keys that sign model versions."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    tracking_uri: str = "http://127.0.0.1:5000"
    registered_model: str = "examgate-face"
    experiment: str = "examgate"
    signing_key: SecretStr | None = Field(SecretStr(DEV_MODEL_SIGNING_KEY), description=(
        "Base64 Ed25519 private key (32 bytes) that signs each version registered: only "
        "the registering jobs (bootstrap, retrain) need it; unset, versions are unsigned."))
    trusted_keys: tuple[str, ...] = Field((DEV_MODEL_VERIFY_KEY,), description=(
        "Base64 Ed25519 public keys whose signatures the servers accept (several during a "
        "key rotation). A version whose signature fails is never served."))
    require_signed_models: bool = Field(False, description=(
        "Serve only signed versions (production always does); otherwise an unsigned "
        "version, e.g. one registered before signing, is served with a warning."))

    @field_validator("signing_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty value (e.g. a servers' ConfigMap) means: this process does not sign."""
        return None if value in ("", None) else value

    @field_validator("trusted_keys")
    @classmethod
    def _keys_are_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        """A placeholder or truncated key fails here, when the process starts."""
        ModelVerifier(keys)
        return keys
