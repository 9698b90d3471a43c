"""The stores as the enroll slice sees them: inside an open Kafka transaction, so never slow.

A failing call is retried with backoff, drawing on one budget shared by both
stores: at most a fifth of the transaction timeout spent on failing calls and
waits in any window of one transaction timeout, however many records a batch
holds, so its transaction still commits in time. A call that cannot be retried
within the budget gives up, and its store is presumed down for one transaction
timeout: later records fail at once without calling it, then one call probes
whether it is back. The failed records become dead letters that keep the
request, to be replayed once the store is back.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

from examgate.adapters.kafka.clients import TRANSACTION_TIMEOUT_MS
from examgate.core.enrollment import Enroller
from examgate.core.ports import (
    ObjectStore,
    ObjectStoreError,
    Template,
    TemplateStore,
    TemplateStoreError,
)
from stream_processors.metrics import ENROLL_STORE_FAILURES

log = logging.getLogger("examgate.enroll")
T = TypeVar("T")

TRANSACTION_S = TRANSACTION_TIMEOUT_MS / 1000
RETRY_BUDGET_S = TRANSACTION_S / 5
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 0.8

# The clock and sleep are read through ``time`` at each call (not bound at import), so that
# tests can drive them.


class RetryBudget:
    """Seconds that failing store calls and the waits between them may take in any window of
    ``window_s``."""

    def __init__(self, seconds: float = RETRY_BUDGET_S, window_s: float = TRANSACTION_S) -> None:
        self.seconds = seconds
        self.window_s = window_s
        self._spent: deque[tuple[float, float]] = deque()  # (when, seconds)

    def left(self) -> float:
        """What is left of the budget now."""
        since = time.monotonic() - self.window_s
        while self._spent and self._spent[0][0] <= since:
            self._spent.popleft()
        return self.seconds - sum(s for _, s in self._spent)

    def charge(self, seconds: float) -> None:
        """Spend ``seconds``."""
        self._spent.append((time.monotonic(), seconds))


class StoreGuard:
    """Retries one store's failing calls within the budget; after giving up, the store is
    presumed down for ``down_for_s`` and its calls fail without being made."""

    def __init__(self, name: str, error: type[Exception], budget: RetryBudget, *,
                 down_for_s: float = TRANSACTION_S) -> None:
        self.name = name
        self.error = error  # the port's error, raised on giving up
        self.budget = budget
        self.down_for_s = down_for_s
        self._down_until: float | None = None  # monotonic time; None while the store answers
        self._last_error = ""

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)``, retried within the budget; the port's error when it keeps failing."""
        start = time.monotonic()
        if self._down_until is not None and start < self._down_until:
            ENROLL_STORE_FAILURES.labels(self.name, "skip").inc()
            raise self.error(f"{self.name} presumed down, not called (last error: "
                             f"{self._last_error})")
        probing = self._down_until is not None  # one try says whether it is back
        delay, attempts = FIRST_DELAY_S, 0
        while True:
            attempts += 1
            began = time.monotonic()
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - whatever a store raises, it failed
                self.budget.charge(time.monotonic() - began)
                self._last_error = f"{type(exc).__name__}: {exc}"
                if probing or self.budget.left() < delay:
                    ENROLL_STORE_FAILURES.labels(self.name, "give_up").inc()
                    self._down_until = time.monotonic() + self.down_for_s
                    raise self.error(f"{self.name} failed {attempts} time(s) in "
                                     f"{time.monotonic() - start:.1f} s ({self._last_error})"
                                     ) from exc
                ENROLL_STORE_FAILURES.labels(self.name, "retry").inc()
                log.warning("enroll: %s failed, retrying in %.2f s: %s", self.name, delay,
                            self._last_error)
                self.budget.charge(delay)
                time.sleep(delay)
                delay = min(2 * delay, MAX_DELAY_S)
                continue
            if self._down_until is not None:
                log.info("enroll: %s answers again", self.name)
                self._down_until = None
            return result


class GuardedTemplateStore(TemplateStore):
    """A template store whose calls go through a :class:`StoreGuard`."""

    def __init__(self, inner: TemplateStore, guard: StoreGuard) -> None:
        self.inner = inner
        self.guard = guard

    def get(self, student_id: str, model_version: str) -> Template | None:
        return self.guard.call(self.inner.get, student_id, model_version)

    def get_many(self, student_ids: Iterable[str], model_version: str) -> dict[str, Template]:
        return self.guard.call(self.inner.get_many, list(student_ids), model_version)

    def put(self, template: Template) -> None:
        self.guard.call(self.inner.put, template)

    def delete_student(self, student_id: str) -> int:
        return self.guard.call(self.inner.delete_student, student_id)

    def students(self, model_version: str) -> list[str]:
        return self.guard.call(self.inner.students, model_version)

    def versions(self, student_id: str) -> list[str]:
        return self.guard.call(self.inner.versions, student_id)

    def generation(self, model_version: str) -> int | None:
        return self.guard.call(self.inner.generation, model_version)


class GuardedObjectStore(ObjectStore):
    """An object store whose calls go through a :class:`StoreGuard`."""

    def __init__(self, inner: ObjectStore, guard: StoreGuard) -> None:
        self.inner = inner
        self.guard = guard

    def put(self, bucket: str, key: str, data: bytes,
            content_type: str = "application/octet-stream") -> None:
        self.guard.call(self.inner.put, bucket, key, data, content_type)

    def get(self, bucket: str, key: str) -> bytes:
        return self.guard.call(self.inner.get, bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        self.guard.call(self.inner.delete, bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        return self.guard.call(self.inner.delete_prefix, bucket, prefix)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return self.guard.call(self.inner.keys, bucket, prefix)


def guarded(enroller: Enroller) -> Enroller:
    """The same enroller over guarded stores (build it once: the guards remember outages and
    share one retry budget)."""
    budget = RetryBudget()
    templates = StoreGuard("template store", TemplateStoreError, budget)
    objects = StoreGuard("object store", ObjectStoreError, budget)
    return Enroller(GuardedTemplateStore(enroller.templates, templates),
                    GuardedObjectStore(enroller.objects, objects),
                    enroller.sealer, enroller.bucket, enroller.frames_bucket,
                    training_bucket=enroller.training_bucket)
