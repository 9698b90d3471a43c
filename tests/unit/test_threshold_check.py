"""The threshold check of `examgate enroll --report` and the console, in words, and the
accept floor it points to."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from examgate.adapters.registry import ModelBundle
from examgate.core.cohort import PairRate
from examgate.core.policy import Thresholds
from examgate.core.settings import CheckInSettings, Settings
from examgate.models import analyzer
from examgate.models.analyzer import served_thresholds

VERSION = ModelBundle("m", "7", "yunet", "sface", {}, Thresholds(accept=0.4593, reject=0.3738))


def _served(floor: float | None) -> Thresholds:
    return served_thresholds(VERSION, Settings(checkin=CheckInSettings(accept_at_least=floor)))


def test_the_floor_raises_the_accept_threshold_and_never_lowers_it(monkeypatch):
    said: list[str] = []  # what the worker logs (other tests reconfigure logging)
    monkeypatch.setattr(analyzer.log, "warning", lambda msg, *args: said.append(msg % args))
    raised = _served(0.52)
    assert raised == Thresholds(accept=0.52, reject=0.3738)
    assert said and "raised from 0.4593 to 0.5200" in said[0]
    assert _served(0.40) == VERSION.thresholds and _served(None) == VERSION.thresholds
    with pytest.raises(ValidationError):  # at or above the replay threshold nothing matches
        CheckInSettings(accept_at_least=0.97)


def _rate(at_or_above: int, needed: float | None, pairs: int = 179_700) -> PairRate:
    return PairRate(600, pairs, at_or_above, 0.4593, 1e-4, needed)


def test_the_check_says_when_the_enrolled_are_more_alike_than_the_calibration_set():
    alike = _rate(503, 0.5650).in_words()  # 2.8e-3: the studio set of issue 11
    assert "more alike" in alike and "0.5650" in alike and "ACCEPT_AT_LEAST" in alike
    fine = _rate(4, 0.4335).in_words()
    assert "more alike" not in fine and "holds down to 0.4335" in fine
    assert "never lowered" in fine
    chance = _rate(24, 0.4700).in_words()  # 1.3e-4: above, within chance
    assert "more alike" not in chance and "does not rule out chance" in chance
    assert "too few students" in _rate(0, None, pairs=780).in_words()
    assert "fewer than two" in _rate(0, None, pairs=0).in_words()
