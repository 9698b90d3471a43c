"""`examgate enroll --report`'s threshold check, and the accept floor it points to."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from examgate.adapters.registry import ModelBundle
from examgate.core.cohort import PairRate
from examgate.core.policy import Thresholds
from examgate.core.settings import CheckInSettings, Settings
from examgate.models.analyzer import served_thresholds
from producers.cli_enroll import _threshold_check

VERSION = ModelBundle("m", "7", "yunet", "sface", {}, Thresholds(accept=0.4593, reject=0.3738))


def _served(floor: float | None) -> Thresholds:
    return served_thresholds(VERSION, Settings(checkin=CheckInSettings(accept_at_least=floor)))


def test_the_floor_raises_the_accept_threshold_and_never_lowers_it(caplog):
    with caplog.at_level(logging.WARNING, logger="examgate.analyzer"):
        raised = _served(0.52)
    assert raised == Thresholds(accept=0.52, reject=0.3738)
    assert "raised from 0.4593 to 0.5200" in caplog.text
    assert _served(0.40) == VERSION.thresholds and _served(None) == VERSION.thresholds
    with pytest.raises(ValidationError):  # at or above the replay threshold nothing matches
        CheckInSettings(accept_at_least=0.97)


def _rate(at_or_above: int, needed: float | None, pairs: int = 179_700) -> PairRate:
    return PairRate(600, pairs, at_or_above, 0.4593, 1e-4, needed)


def test_the_check_says_when_the_enrolled_are_more_alike_than_the_calibration_set():
    alike = _threshold_check(_rate(503, 0.5650))  # 2.8e-3: the studio set of issue 11
    assert "more alike" in alike and "0.5650" in alike and "ACCEPT_AT_LEAST" in alike
    fine = _threshold_check(_rate(4, 0.4335))
    assert "more alike" not in fine and "holds down to 0.4335" in fine
    assert "never lowered" in fine
    chance = _threshold_check(_rate(24, 0.4700))  # 1.3e-4: above, within chance
    assert "more alike" not in chance and "does not rule out chance" in chance
    assert "too few students" in _threshold_check(_rate(0, None, pairs=780))
    assert "fewer than two" in _threshold_check(_rate(0, None, pairs=0))
