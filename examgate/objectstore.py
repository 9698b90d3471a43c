"""Object storage port: S3-compatible in production (the ``minio`` client), memory in tests."""

from __future__ import annotations

import abc
import io
from datetime import timedelta


class ObjectStoreError(RuntimeError):
    """The object store could not be reached, or the object is missing."""


class ObjectStore(abc.ABC):
    """Port: put, get and delete blobs by bucket and key."""

    @abc.abstractmethod
    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        """Store ``data`` at ``bucket/key``."""

    @abc.abstractmethod
    def get(self, bucket: str, key: str) -> bytes:
        """The bytes at ``bucket/key``; ObjectStoreError when missing or unreachable."""

    @abc.abstractmethod
    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""

    @abc.abstractmethod
    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix``."""

    def presigned_url(self, bucket: str, key: str, expires: timedelta) -> str:
        """A short-lived download link (stores that cannot make one raise)."""
        raise ObjectStoreError(f"{type(self).__name__} cannot presign URLs")


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
    def from_settings(cls, s) -> S3ObjectStore:  # s: ObjectStoreSettings
        """Connect with the object-store section of the settings."""
        from minio import Minio

        return cls(Minio(s.endpoint, access_key=s.access_key,
                         secret_key=s.secret_key.get_secret_value(), secure=s.secure,
                         region=s.region))

    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        from minio.error import MinioException

        try:
            self._c.put_object(bucket, key, io.BytesIO(data), len(data),
                               content_type=content_type)
        except (MinioException, OSError) as exc:
            raise ObjectStoreError(f"put {bucket}/{key}: {exc}") from exc

    def get(self, bucket: str, key: str) -> bytes:
        from minio.error import MinioException

        resp = None
        try:
            resp = self._c.get_object(bucket, key)
            return resp.read()
        except (MinioException, OSError) as exc:
            raise ObjectStoreError(f"get {bucket}/{key}: {exc}") from exc
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject
        from minio.error import MinioException

        try:
            names = [o.object_name for o in self._c.list_objects(bucket, prefix, recursive=True)]
            errors = list(self._c.remove_objects(bucket, (DeleteObject(n) for n in names)))
        except (MinioException, OSError) as exc:
            raise ObjectStoreError(f"delete {bucket}/{prefix}*: {exc}") from exc
        if errors:
            raise ObjectStoreError(f"delete {bucket}/{prefix}*: {errors[0]}")
        return len(names)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        from minio.error import MinioException

        try:
            return sorted(o.object_name for o in
                          self._c.list_objects(bucket, prefix, recursive=True))
        except (MinioException, OSError) as exc:
            raise ObjectStoreError(f"list {bucket}/{prefix}: {exc}") from exc

    def presigned_url(self, bucket: str, key: str, expires: timedelta) -> str:
        return self._c.presigned_get_object(bucket, key, expires=expires)

    def set_expiry(self, bucket: str, prefix: str, days: int) -> None:
        """Let the store itself delete objects under ``prefix`` after ``days`` (retention)."""
        from minio.commonconfig import ENABLED, Filter
        from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

        rule = Rule(ENABLED, rule_filter=Filter(prefix=prefix), rule_id=f"expire-{prefix}",
                    expiration=Expiration(days=days))
        self._c.set_bucket_lifecycle(bucket, LifecycleConfig([rule]))
