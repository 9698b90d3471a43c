"""The exam-day simulator: scenarios, arrivals, the load driver and evaluation reports.

Planning (cohorts, seeded probe transforms from ``examgate.augment``, arrival
schedules) and reporting are pure and offline; ``driver`` sends the planned
check-ins through the running system (gate producers, processor workers,
Kafka) and collects every decision. ``bench_e2e`` and ``bench_scaleout`` are
load benchmarks built on the same driver.
"""
