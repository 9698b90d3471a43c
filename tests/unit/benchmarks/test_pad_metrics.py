"""PAD metrics (ISO/IEC 30107-3) on hand-made scores, and the calibration's still-face floor."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pad_metrics import (
    apcer,
    bpcer,
    bpcer_at_apcer,
    threshold_at_apcer,
    verdict_counts,
)
from examgate.core.liveness_settings import LivenessSettings
from examgate.models.liveness_calibration import thresholds_from_scores
from examgate.vision.liveness.fusion import still_cap


def test_apcer_counts_attacks_at_or_above_the_pass_threshold() -> None:
    attacks = {"print": [0.1, 0.5, 0.6, 0.2], "screen": [0.0, 0.0]}
    assert apcer(attacks, 0.5) == {"print": 0.5, "screen": 0.0}
    assert apcer(attacks, 0.61) == {"print": 0.0, "screen": 0.0}


def test_bpcer_counts_live_faces_below_the_pass_threshold() -> None:
    assert bpcer([0.9, 0.8, 0.4, 0.5], 0.5) == 0.25
    assert bpcer([], 0.5) == 0.0


def test_the_worst_attack_type_sets_the_threshold_at_an_apcer() -> None:
    attacks = {"print": [0.1] * 99 + [0.7], "screen": [0.2] * 98 + [0.8, 0.9]}
    t = threshold_at_apcer(attacks, 0.01)
    assert 0.8 < t <= 0.9  # screen's 2 % above 0.8 must drop to 1 %: only 0.9 may pass
    assert max(apcer(attacks, t).values()) <= 0.01
    assert threshold_at_apcer(attacks, 0.0) > 0.9


def test_bpcer_at_apcer_is_measured_at_that_threshold() -> None:
    attacks = {"print": list(np.linspace(0.0, 0.5, 100))}
    live = list(np.linspace(0.3, 1.0, 100))
    out = bpcer_at_apcer(live, attacks)
    assert set(out) == {"0.01", "0.05"}
    assert out["0.01"] >= out["0.05"] > 0.0


def test_verdict_counts_split_at_both_thresholds() -> None:
    assert verdict_counts([0.0, 0.2, 0.3, 0.6, 0.9], 0.6, 0.25) == {
        "LIVE": 2, "UNCERTAIN": 1, "ATTACK": 2}


def test_the_pass_threshold_never_falls_to_the_still_face_cap() -> None:
    scores = np.array([0.30] * 5 + [0.9] * 95)  # 5 % of live faces stood still
    low, _ = thresholds_from_scores(scores, 0.1, 0.0)
    assert low == 0.9
    pass_t, attack_t = thresholds_from_scores(scores, 0.01, 0.0, pass_floor=0.45)
    assert pass_t == 0.45 and attack_t <= pass_t
    assert still_cap(LivenessSettings()) == pytest.approx(0.425)
