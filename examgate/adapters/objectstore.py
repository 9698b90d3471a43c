"""Object stores: S3-compatible in production (the ``minio`` client), memory in unit tests."""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from examgate.core.ports import ObjectStore, ObjectStoreError
from examgate.core.settings import ObjectStoreSettings

if TYPE_CHECKING:
    from minio import Minio


@functools.cache
def _client_errors() -> tuple[type[Exception], ...]:
    """What the minio client raises when the store fails: its own errors, socket errors and
    urllib3's (a stopped store raises MaxRetryError, which is neither)."""
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError

    return (MinioException, OSError, HTTPError)


POOL_CONNECTIONS = 16  # kept open per object-store host


def minio_client(cfg: ObjectStoreSettings, timeout_s: float | None = None,
                 retries: int | None = None) -> Minio:
    """The one ``minio`` client builder. With no timeout or retry count it keeps the
    client's own defaults; health checks and provisioning pass short ones."""
    import urllib3
    from minio import Minio

    http = None
    if timeout_s is not None or retries is not None:
        timeout = 5.0 if timeout_s is None else timeout_s
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=retries or 0, backoff_factor=0.2),
            # A verify worker keeps a burst for review from up to 9 threads at once; with
            # urllib3's default of one connection per host each other upload opened and
            # dropped its own ("Connection pool is full, discarding connection").
            maxsize=POOL_CONNECTIONS)
    return Minio(cfg.endpoint, access_key=cfg.access_key,
                 secret_key=cfg.secret_key.get_secret_value(), secure=cfg.secure,
                 region=cfg.region, http_client=http)


def ensure_buckets(cfg: ObjectStoreSettings, client: Minio | None = None) -> list[str]:
    """Create every bucket ExamGate writes to that does not exist yet; returns those created.
    Used by the local stack and by the Kubernetes bucket Job alike."""
    client = client or minio_client(cfg, 10.0, retries=3)
    created = []
    for bucket in cfg.buckets():
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
            created.append(bucket)
    return created


def _too_large(bucket: str, key: str, size: int | None, max_bytes: int) -> str:
    size_is = "" if size is None else f" {size} bytes,"
    return f"{bucket}/{key} is{size_is} over the {max_bytes}-byte limit"


class MemoryObjectStore(ObjectStore):
    """In-memory store for unit tests."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise ObjectStoreError("object store unavailable (simulated)")

    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        self._check()
        self.objects[(bucket, key)] = bytes(data)

    def get(self, bucket: str, key: str) -> bytes:
        self._check()
        try:
            return self.objects[(bucket, key)]
        except KeyError as exc:
            raise ObjectStoreError(f"no object {bucket}/{key}") from exc

    def get_at_most(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The bytes at ``bucket/key``, refused when there are more than ``max_bytes``."""
        self._check()
        try:
            data = self.objects[(bucket, key)]
        except KeyError as exc:
            raise ObjectStoreError(f"no object {bucket}/{key}") from exc
        if len(data) > max_bytes:
            raise ObjectStoreError(_too_large(bucket, key, len(data), max_bytes))
        return data

    def delete(self, bucket: str, key: str) -> None:
        self._check()
        self.objects.pop((bucket, key), None)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        self._check()
        doomed = [k for k in self.objects if k[0] == bucket and k[1].startswith(prefix)]
        for k in doomed:
            del self.objects[k]
        return len(doomed)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        self._check()
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))


class S3ObjectStore(ObjectStore):
    """Any S3-compatible store (MinIO, SeaweedFS, AWS, Ceph) through the ``minio`` client."""

    def __init__(self, client) -> None:  # client: minio.Minio
        self._c = client

    @classmethod
    def from_settings(cls, s: ObjectStoreSettings) -> S3ObjectStore:
        """Connect with the object-store section of the settings, with its short timeouts:
        on the decision path a slow store must mean REVIEW soon, not a stalled batch."""
        return cls(minio_client(s, s.timeout_s, retries=s.retries))

    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        try:
            self._c.put_object(bucket, key, io.BytesIO(data), len(data),
                               content_type=content_type)
        except _client_errors() as exc:
            raise ObjectStoreError(f"put {bucket}/{key}: {exc}") from exc

    def get(self, bucket: str, key: str) -> bytes:
        resp = None
        try:
            resp = self._c.get_object(bucket, key)
            return resp.read()
        except _client_errors() as exc:
            raise ObjectStoreError(f"get {bucket}/{key}: {exc}") from exc
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()

    def get_at_most(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The bytes at ``bucket/key``, refused when there are more than ``max_bytes``.

        The size is asked first, so a huge object is never downloaded; the read itself
        asks for one byte past the cap, so an object replaced in between is caught too.
        """
        resp = None
        try:
            size = self._c.stat_object(bucket, key).size
            if size is not None and size > max_bytes:
                raise ObjectStoreError(_too_large(bucket, key, size, max_bytes))
            if size == 0:
                return b""  # a range cannot be asked of an empty object
            resp = self._c.get_object(bucket, key, offset=0, length=max_bytes + 1)
            data = resp.read(max_bytes + 1)
        except _client_errors() as exc:
            raise ObjectStoreError(f"get {bucket}/{key}: {exc}") from exc
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()
        if len(data) > max_bytes:
            raise ObjectStoreError(_too_large(bucket, key, None, max_bytes))
        return data

    def delete(self, bucket: str, key: str) -> None:
        # S3 answers a delete of a missing key with success, which is what the port promises.
        try:
            self._c.remove_object(bucket, key)
        except _client_errors() as exc:
            raise ObjectStoreError(f"delete {bucket}/{key}: {exc}") from exc

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject
        try:
            names = [o.object_name for o in self._c.list_objects(bucket, prefix, recursive=True)]
            errors = list(self._c.remove_objects(bucket, (DeleteObject(n) for n in names)))
        except _client_errors() as exc:
            raise ObjectStoreError(f"delete {bucket}/{prefix}*: {exc}") from exc
        if errors:
            raise ObjectStoreError(f"delete {bucket}/{prefix}*: {errors[0]}")
        return len(names)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        try:
            return sorted(o.object_name for o in
                          self._c.list_objects(bucket, prefix, recursive=True))
        except _client_errors() as exc:
            raise ObjectStoreError(f"list {bucket}/{prefix}: {exc}") from exc

    def presigned_url(self, bucket: str, key: str, expires: timedelta) -> str:
        # Without a configured region the client first asks the store for the bucket's
        # location: a network call that fails like any other when the store is down.
        try:
            return self._c.presigned_get_object(bucket, key, expires=expires)
        except _client_errors() as exc:
            raise ObjectStoreError(f"link {bucket}/{key}: {exc}") from exc

    def set_expiry(self, bucket: str, days_by_prefix: Mapping[str, int]) -> None:
        """Let the store itself delete objects under each prefix after its number of days
        (retention). One call sets every rule of the bucket: a bucket has one lifecycle."""
        from minio.commonconfig import ENABLED, Filter
        from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

        rules = [Rule(ENABLED, rule_filter=Filter(prefix=prefix), rule_id=f"expire-{prefix}",
                      expiration=Expiration(days=days))
                 for prefix, days in days_by_prefix.items()]
        self._c.set_bucket_lifecycle(bucket, LifecycleConfig(rules))
