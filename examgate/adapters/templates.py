"""Template stores and the ledger of seen event ids: Redis in production, memory in unit tests
(the ports are in ``core.ports``).

A template belongs to one model version: embeddings of different versions live
in different spaces and are never compared.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from examgate.core.crypto import Sealer
from examgate.core.ports import (
    EventLedger,
    EventLedgerError,
    Template,
    TemplateStore,
    TemplateStoreError,
)


class MemoryTemplateStore(TemplateStore):
    """In-memory store for unit tests."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Template] = {}
        self._changes: dict[str, int] = {}
        self.fail = False  # lets a test simulate an outage

    def _check(self) -> None:
        if self.fail:
            raise TemplateStoreError("template store unavailable (simulated)")

    def get(self, student_id: str, model_version: str) -> Template | None:
        self._check()
        return self._data.get((model_version, student_id))

    def put(self, template: Template) -> None:
        self._check()
        self._data[(template.model_version, template.student_id)] = template
        self._changes[template.model_version] = self._changes.get(template.model_version, 0) + 1

    def delete_student(self, student_id: str) -> int:
        self._check()
        keys = [k for k in self._data if k[1] == student_id]
        for k in keys:
            del self._data[k]
            self._changes[k[0]] = self._changes.get(k[0], 0) + 1
        return len(keys)

    def students(self, model_version: str) -> list[str]:
        self._check()
        return sorted(s for v, s in self._data if v == model_version)

    def versions(self, student_id: str) -> list[str]:
        self._check()
        return sorted(v for v, s in self._data if s == student_id)

    def generation(self, model_version: str) -> int | None:
        self._check()
        return self._changes.get(model_version, 0)


class RedisTemplateStore(TemplateStore):
    """Templates in Redis, AES-GCM encrypted, one key per (model version, student)."""

    PREFIX = "examgate:tpl"
    MGET_CHUNK = 500  # keys per MGET: a few hundred kB a reply, Redis never blocked long

    def __init__(self, client, sealer: Sealer | None,  # client: redis.Redis
                 prefix: str = PREFIX) -> None:
        self._r = client
        self.PREFIX = prefix  # one registry's keys (settings.redis.template_prefix)
        # None: a process that only reads which versions a student has (the HTTP API) and
        # holds no template key; reading or writing a template then fails loudly.
        self._sealer = sealer

    def _key_holder(self) -> Sealer:
        if self._sealer is None:
            raise TemplateStoreError("this process holds no template key: it can list "
                                     "versions, not read or write templates")
        return self._sealer

    def _key(self, model_version: str, student_id: str) -> str:
        return f"{self.PREFIX}:{model_version}:{student_id}"

    def _index(self, student_id: str) -> str:
        return f"{self.PREFIX}-versions:{student_id}"

    def _changes(self, model_version: str) -> str:
        return f"{self.PREFIX}-changes:{model_version}"

    def get(self, student_id: str, model_version: str) -> Template | None:
        import redis

        key = self._key(model_version, student_id)
        try:
            blob = self._r.get(key)
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return None if blob is None else self._open(blob, key)

    def get_many(self, student_ids: Iterable[str], model_version: str) -> dict[str, Template]:
        """Many templates in one round trip per :data:`MGET_CHUNK` students (MGET)."""
        import redis

        wanted = list(dict.fromkeys(student_ids))
        out: dict[str, Template] = {}
        for i in range(0, len(wanted), self.MGET_CHUNK):
            chunk = wanted[i:i + self.MGET_CHUNK]
            keys = [self._key(model_version, s) for s in chunk]
            try:
                blobs = self._r.mget(keys)
            except redis.RedisError as exc:
                raise TemplateStoreError(f"redis: {exc}") from exc
            out.update((s, self._open(b, k)) for s, k, b in zip(chunk, keys, blobs, strict=True)
                       if b is not None)
        return out

    def _open(self, blob: bytes, key: str) -> Template:
        try:
            return Template.from_bytes(self._key_holder().open(blob, key))
        except ValueError as exc:
            raise TemplateStoreError(f"template {key} unreadable: {exc}") from exc

    def put(self, template: Template) -> None:
        import redis

        key = self._key(template.model_version, template.student_id)
        try:
            with self._r.pipeline(transaction=True) as pipe:
                pipe.set(key, self._key_holder().seal(template.to_bytes(), key))
                pipe.sadd(self._index(template.student_id), template.model_version)
                pipe.sadd(f"{self.PREFIX}-students:{template.model_version}",
                          template.student_id)
                pipe.incr(self._changes(template.model_version))
                pipe.execute()
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc

    def delete_student(self, student_id: str) -> int:
        import redis

        try:
            versions = [v.decode() for v in self._r.smembers(self._index(student_id))]
            with self._r.pipeline(transaction=True) as pipe:
                for v in versions:
                    pipe.delete(self._key(v, student_id))
                    pipe.srem(f"{self.PREFIX}-students:{v}", student_id)
                    pipe.incr(self._changes(v))
                pipe.delete(self._index(student_id))
                pipe.execute()
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return len(versions)

    def students(self, model_version: str) -> list[str]:
        import redis

        try:
            members = self._r.smembers(f"{self.PREFIX}-students:{model_version}")
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return sorted(m.decode() for m in members)

    def versions(self, student_id: str) -> list[str]:
        """The model versions of the student's templates (their index; nothing decrypted)."""
        import redis

        try:
            members = self._r.smembers(self._index(student_id))
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return sorted(m.decode() for m in members)

    def generation(self, model_version: str) -> int | None:
        """The version's change counter (INCR with every put and erasure; 0 before any)."""
        import redis

        try:
            value = self._r.get(self._changes(model_version))
        except redis.RedisError as exc:
            raise TemplateStoreError(f"redis: {exc}") from exc
        return int(value or 0)


class MemoryEventLedger(EventLedger):
    """In-memory ledger for unit tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self.fail = False  # lets a test simulate an outage

    def first_seen(self, event_id: str, where: str, ttl_s: float) -> str:
        """Where ``event_id`` was first seen (see the port)."""
        if self.fail:
            raise EventLedgerError("event ledger unavailable (simulated)")
        now = self._clock()
        first = self._seen.get(event_id)
        if first is None or first[1] <= now:
            self._seen[event_id] = (where, now + ttl_s)
            return where
        return first[0]


class RedisEventLedger(EventLedger):
    """Seen event ids in Redis, one expiring key each, noted atomically (SET NX GET)."""

    PREFIX = "examgate:event"

    def __init__(self, client) -> None:  # client: redis.Redis
        self._r = client

    def first_seen(self, event_id: str, where: str, ttl_s: float) -> str:
        """Where ``event_id`` was first seen (see the port)."""
        import redis

        try:
            before = self._r.set(f"{self.PREFIX}:{event_id}", where, nx=True,
                                 ex=max(1, round(ttl_s)), get=True)
        except redis.RedisError as exc:
            raise EventLedgerError(f"redis: {exc}") from exc
        return where if before is None else before.decode()
