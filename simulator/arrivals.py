"""Arrival processes: when each planned check-in is sent, and at which gate.

Offsets are seconds after the run starts, already divided by the process's
``time_compression``: a 45-minute morning at compression 30 replays in 90 s.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Process(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    time_compression: float = Field(
        default=1.0, ge=1.0, description="simulated seconds per real second when replaying")


class SteadyArrivals(_Process):
    """A constant mean rate; each check-in goes to a random gate."""

    process: Literal["steady"] = "steady"
    rate_per_s: float = Field(gt=0.0, description="mean check-ins per simulated second")
    poisson: bool = Field(default=True,
                          description="exponential gaps (True) or evenly spaced (False)")


class BurstArrivals(_Process):
    """Most students arrive in the last minutes before the exam starts.

    The first ``window_min - burst_min`` minutes fill slowly with a rising rate;
    ``burst_fraction`` of all check-ins fall uniformly in the last ``burst_min``.
    """

    process: Literal["burst"] = "burst"
    window_min: float = Field(default=45.0, gt=0.0,
                              description="check-in opens this long before the start")
    burst_min: float = Field(default=10.0, gt=0.0, description="length of the final rush")
    burst_fraction: float = Field(default=0.75, ge=0.0, le=1.0,
                                  description="share of check-ins in the rush")

    @model_validator(mode="after")
    def _burst_within_window(self) -> BurstArrivals:
        if self.burst_min > self.window_min:
            raise ValueError(f"burst_min ({self.burst_min}) exceeds window_min "
                             f"({self.window_min})")
        return self


class ParallelGatesArrivals(_Process):
    """Every gate has its own queue, served one student every ``service_s`` (+/- ``jitter``)."""

    process: Literal["parallel_gates"] = "parallel_gates"
    service_s: float = Field(default=6.0, gt=0.0,
                             description="simulated seconds per student per gate")
    jitter: float = Field(default=0.3, ge=0.0, lt=1.0,
                          description="relative spread of service times")


ArrivalProcess = Annotated[SteadyArrivals | BurstArrivals | ParallelGatesArrivals,
                           Field(discriminator="process")]


def arrival_schedule(process: SteadyArrivals | BurstArrivals | ParallelGatesArrivals, n: int,
                     gates: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sorted send offsets in real seconds (n,) and gate indices 0..gates-1 (n,)."""
    if n <= 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    if isinstance(process, SteadyArrivals):
        gaps = (rng.exponential(1.0 / process.rate_per_s, size=n) if process.poisson
                else np.full(n, 1.0 / process.rate_per_s))
        times = np.cumsum(gaps) - gaps[0]
        gate = rng.integers(0, gates, size=n)
    elif isinstance(process, BurstArrivals):
        n_burst = round(n * process.burst_fraction)
        early_s = (process.window_min - process.burst_min) * 60.0
        # Density rising linearly from zero: inverse CDF of a triangle is sqrt(U).
        early = early_s * np.sqrt(rng.uniform(0.0, 1.0, size=n - n_burst))
        late = early_s + process.burst_min * 60.0 * rng.uniform(0.0, 1.0, size=n_burst)
        times = np.concatenate([early, late])
        gate = rng.integers(0, gates, size=n)
    else:
        gate = np.arange(n) % gates
        service = process.service_s * rng.uniform(1 - process.jitter, 1 + process.jitter, size=n)
        times = np.zeros(n)
        for g in range(gates):
            idx = np.flatnonzero(gate == g)
            times[idx] = np.cumsum(service[idx]) - service[idx[0]]
    order = np.argsort(times, kind="stable")
    return times[order] / process.time_compression, gate[order].astype(np.int64)


def exam_start_offset_s(process: SteadyArrivals | BurstArrivals | ParallelGatesArrivals
                        ) -> float | None:
    """When the exam starts, in real seconds after the run starts (bursts only)."""
    if isinstance(process, BurstArrivals):
        return process.window_min * 60.0 / process.time_compression
    return None
