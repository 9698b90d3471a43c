"""Label values that come from events are bounded (review finding 12: gate_id as a label)."""

from __future__ import annotations

from stream_processors.metrics import BoundedLabel


def test_invented_gate_ids_cannot_grow_the_metrics_without_bound() -> None:
    label = BoundedLabel(limit=3)
    assert [label(g) for g in ("g1", "g2", "g1", "g3")] == ["g1", "g2", "g1", "g3"]
    values = {label(f"invented-{i}") for i in range(1000)}
    assert values == {"other"}
    assert label("g2") == "g2"  # gates seen before keep their own series
