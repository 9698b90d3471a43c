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
    first = [r for r in rows if not r.second_look_of]
    assert len(first) == scenario.checkins
    assert all(r.outcome is not None for r in rows), "every check-in gets a decision"
    # Second looks: only for check-ins refused for lacking motion, each decided on its own.
    looks = {r.second_look_of: r for r in rows if r.second_look_of}
    for r in first:
        assert (r.checkin_id in looks) <= (r.reason == "LIVENESS_UNCERTAIN")
    per = report["per_transaction"]
    assert (per or {}).get("second_looks", 0) == len(looks)
    assert report["duplicate_decisions"] == 0
    # A replayed enrollment photo (the same still image in every frame) is caught, as a
    # replay or as a presentation attack; prints and screens are measured as attacks (an
    # ACCEPT of one would count as a false accept) and none gets in.
    replays = [r for r in rows if r.attack == "replay"]
    assert replays and {r.outcome for r in replays} == {"REJECT"}
    assert {r.reason for r in replays} <= {"REPLAY_SUSPECTED", "PRESENTATION_ATTACK"}
    instruments = [r for r in rows if r.probe_kind in ("printed_photo", "presentation_attack")]
    assert {r.attack for r in instruments} >= {"printed_photo_handheld", "phone_replay"}
    assert not any(r.is_genuine or r.outcome == "ACCEPT" for r in instruments)
    accepted = [r for r in rows if r.outcome == "ACCEPT"]
    assert accepted and all(r.liveness_verdict == "LIVE" for r in accepted)
    assert report["summary"]["far"]["n"] >= len(replays) + len(instruments)
    pad = report["pad"]
    assert set(pad["apcer"]) >= {"printed_photo_handheld", "phone_replay"}
    assert 0.0 <= pad["bpcer"]["rate"] <= 1.0
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["summary"]["checkins"] == scenario.checkins
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html
