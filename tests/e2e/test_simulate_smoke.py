"""The smoke scenario end to end: stack, model, workers, enrollment, check-ins, report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from examgate.adapters.kafka import Topics, ensure_topics
from examgate.core.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


def test_smoke_scenario_end_to_end(stack, tmp_path: Path, monkeypatch) -> None:
    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    run = uuid.uuid4().hex[:8]
    for k in ("checkins", "decisions", "enrollments", "feedback", "model_events"):
        monkeypatch.setenv(f"EXAMGATE_KAFKA__TOPICS__{k.upper()}", f"e2e{run}.{k}")
    monkeypatch.setenv("EXAMGATE_KAFKA__PROCESSOR_GROUP", f"e2e{run}-processors")
    settings = load_settings()
    ensure_topics(settings.kafka, Topics.from_settings(settings.kafka.topics))
    scenario = load_scenario("smoke")
    report, rows = run_scenario(settings, scenario, tmp_path / "report")
    assert len(rows) == scenario.checkins
    assert all(r.outcome is not None for r in rows), "every check-in gets a decision"
    assert report["duplicate_decisions"] == 0
    # A replayed enrollment photo is caught; a printed photo is measured as an attack
    # (an ACCEPT of it would count as a false accept).
    replays = [r for r in rows if r.attack == "replay"]
    assert replays and {(r.outcome, r.reason) for r in replays} == {("REJECT",
                                                                     "REPLAY_SUSPECTED")}
    printed = [r for r in rows if r.attack == "printed_photo"]
    assert printed and not any(r.is_genuine for r in printed)
    assert report["summary"]["far"]["n"] >= len(replays) + len(printed)
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["summary"]["checkins"] == scenario.checkins
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html
