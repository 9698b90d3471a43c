"""The real adapters, built from settings: one place that knows how to connect to each service."""

from __future__ import annotations

from examgate.adapters.objectstore import S3ObjectStore
from examgate.adapters.registry import ModelRegistry
from examgate.adapters.templates import RedisEventLedger, RedisTemplateStore
from examgate.core.crypto import Sealer
from examgate.core.settings import Settings
from examgate.core.signing import ModelSigner, ModelVerifier


def sealer(settings: Settings) -> Sealer:
    """AES-GCM with the template key."""
    return Sealer.from_base64(settings.template_key.get_secret_value())


def _redis(settings: Settings):  # -> redis.Redis
    """A Redis client that fails fast when Redis is slow or down."""
    import redis

    r = settings.redis
    return redis.Redis.from_url(
        r.url, password=r.password.get_secret_value() if r.password else None,
        socket_timeout=r.socket_timeout_s, socket_connect_timeout=r.socket_timeout_s)


def template_store(settings: Settings) -> RedisTemplateStore:
    """Encrypted templates in Redis."""
    return RedisTemplateStore(_redis(settings), sealer(settings), settings.redis.template_prefix)


def template_versions(settings: Settings) -> RedisTemplateStore:
    """The templates' version index in Redis, without the template key: ``versions`` and
    ``students`` work, reading or writing a template does not (the HTTP API)."""
    return RedisTemplateStore(_redis(settings), None, settings.redis.template_prefix)


def event_ledger(settings: Settings) -> RedisEventLedger:
    """The event ids the verify processors have seen, in Redis."""
    return RedisEventLedger(_redis(settings))


def object_store(settings: Settings) -> S3ObjectStore:
    """The S3-compatible object store."""
    return S3ObjectStore.from_settings(settings.object_store)


def model_registry(settings: Settings) -> ModelRegistry:
    """The MLflow model registry with its local cache."""
    m = settings.mlflow
    return ModelRegistry(
        m.tracking_uri, m.registered_model, settings.stack.cache_dir / "models",
        signer=ModelSigner.from_base64(m.signing_key.get_secret_value()) if m.signing_key
        else None,
        verifier=ModelVerifier(m.trusted_keys) if m.trusted_keys else None,
        require_signature=m.require_signed_models or settings.environment == "production")
