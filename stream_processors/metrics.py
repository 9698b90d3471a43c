"""Prometheus metrics of the processors; stage names match the Decision's latency keys."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter("examgate_decisions_total", "Decisions made, by outcome and reason.",
                    ["outcome", "reason", "gate"])
SIMILARITY = Histogram("examgate_similarity", "Champion cosine similarity of decided probes.",
                       buckets=[x / 20 for x in range(-4, 21)])
STAGE_LATENCY = Histogram("examgate_stage_latency_seconds", "Time spent per processing stage.",
                          ["stage"], buckets=[.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                              2.5])
END_TO_END = Histogram("examgate_end_to_end_seconds", "From check-in published to decision sent.",
                       buckets=[.01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10])
CONSUMER_LAG = Gauge("examgate_consumer_lag", "Records behind the end of the partition.",
                     ["topic", "partition"])
ERRORS = Counter("examgate_errors_total", "Errors by stage.", ["stage"])
DEAD_LETTERS = Counter("examgate_dead_letters_total", "Events sent to a dead-letter topic.",
                       ["topic", "reason"])
ENROLLMENTS = Counter("examgate_enrollments_total", "Enrollment requests carried out.",
                      ["action", "result"])
MODEL_VERSION = Gauge("examgate_model_loaded", "1 for each model version loaded, by alias.",
                      ["alias", "version"])
MODEL_RELOAD_FAILURES = Counter("examgate_model_reload_failures_total",
                                "Model reloads that failed (the old model stays in use).")
MODEL_EVENTS_IGNORED = Counter("examgate_model_events_ignored_total",
                               "ModelChanged events not acted on: the registry says otherwise, "
                               "or the event is invalid.", ["reason"])
ENROLL_STORE_FAILURES = Counter("examgate_enroll_store_failures_total",
                                "Failed store calls of the enroll slice, by store and by what "
                                "followed: retry, give_up (dead letter) or skip (store presumed "
                                "down, not called).", ["store", "then"])


class BoundedLabel:
    """Label values taken from events, capped: the first ``limit`` distinct values are kept,
    the rest count as ``other``, so a producer inventing gate ids cannot grow the metrics
    (and Prometheus) without bound."""

    def __init__(self, limit: int = 256, other: str = "other") -> None:
        self.limit, self.other = limit, other
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return self.other


GATE_LABEL = BoundedLabel()
