"""bench templates: what it times, on the in-memory store (the real run needs Redis)."""

from __future__ import annotations

from benchmarks.templates import decode_costs, measure_cohort
from examgate.adapters.templates import MemoryTemplateStore


def test_a_cohort_is_timed_and_removed_afterwards() -> None:
    store = MemoryTemplateStore()
    row = measure_cohort(store, 40, repeat=2)
    assert row["students"] == 40
    assert all(row[k] >= 0.0 for k in ("get_loop_ms", "get_many_ms", "lookalike_search_ms",
                                       "cohort_read_ms"))
    assert store._data == {}  # nothing of the benchmark is left behind


def test_decoding_is_timed_in_both_formats() -> None:
    costs = decode_costs(repeat=20)
    assert costs["avro_us"] > 0 and costs["npz_us"] > 0
    assert costs["avro_bytes"] < costs["npz_bytes"]
