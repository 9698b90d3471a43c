"""Who is calling, and whether they may: bearer tokens, scopes and a rate per client.

Every refusal is an :class:`ApiError` with an HTTP status and a reason code, so a
kiosk script can tell "wrong token" from "too fast" from "not your exam".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from http_api.settings import ApiClient, ApiSettings


class ApiError(Exception):
    """A request refused, with its HTTP status and a reason code."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, client_id: str, rate: float | None = None, burst: int | None = None
             ) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying
        (``rate`` and ``burst``: the client's own, when it has them)."""
        rate, burst = rate or self.rate, burst or self.burst
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(client_id, (float(burst), now))
            tokens = min(float(burst), tokens + (now - then) * rate)
            if tokens >= 1:
                self._buckets[client_id] = (tokens - 1, now)
                return 0.0
            self._buckets[client_id] = (tokens, now)
            return (1 - tokens) / rate


def authenticate(settings: ApiSettings, limiter: RateLimiter,
                 authorization: str | None) -> ApiClient:
    """The client behind an ``Authorization: Bearer`` header, within its rate; else ApiError."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "UNAUTHENTICATED", "send Authorization: Bearer <token>",
                       {"WWW-Authenticate": "Bearer"})
    client = settings.client(token.strip())
    if client is None:
        raise ApiError(401, "UNAUTHENTICATED", "unknown or revoked token",
                       {"WWW-Authenticate": "Bearer"})
    wait = limiter.take(client.id, client.rate_per_s, client.rate_burst)
    if wait > 0:
        rate = client.rate_per_s or settings.rate_per_s
        raise ApiError(429, "RATE_LIMITED", f"more than {rate:g} requests/s",
                       {"Retry-After": str(max(1, round(wait)))})
    return client
