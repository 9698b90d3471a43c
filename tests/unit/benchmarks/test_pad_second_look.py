"""The second look in the PAD benchmark: who gets one, how the prompted presentation is
rendered, and the per-transaction rates."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pad_second_look import second_look_report, wants_second_look
from examgate.augment import burst_names, render_burst
from examgate.augment.prompted import PROMPTED_LIVE, moved, prompted_params
from examgate.vision.liveness import LivenessEvidence


def _ev(score: float, why: str = "too little motion", fired: tuple[str, ...] = ()
        ) -> LivenessEvidence:
    return LivenessEvidence(score=score, frames=5, single_frame=False, fired=fired, why=why)


@pytest.mark.parametrize(("evidence", "wanted"), [
    (_ev(0.42), True),
    (_ev(0.42, "too little relief"), True),
    (_ev(0.90, ""), False),                              # passed
    (_ev(0.02, "fired: moire", ("moire",)), False),      # a confident attack: REJECT
    (_ev(0.30, "fired: edges", ("edges",)), False),      # uncertain, but something fired
    (_ev(0.42, "a signal near firing"), False),
    (_ev(0.42, "one frame only"), False),
])
def test_only_a_clean_but_still_burst_gets_a_second_look(evidence: LivenessEvidence,
                                                         wanted: bool) -> None:
    assert wants_second_look(evidence, pass_threshold=0.445, attack_threshold=0.05) is wanted


def test_prompted_presentations_move_more_within_each_instruments_bounds() -> None:
    assert prompted_params("bona_fide") == PROMPTED_LIVE
    assert prompted_params("printed_photo_handheld") == {"motion": 2.0}
    assert prompted_params("cutout_print") == {"motion": pytest.approx(1.4)}
    assert prompted_params("screen_replay_video") == {"head_motion": 2.0, "motion": 2.0}
    assert prompted_params("printed_photo_still") == {}  # nothing to move: shown again
    assert moved("cutout_print", 3.0) == {"motion": pytest.approx(2.1)}
    assert moved("screen_replay_video", 4.0) == {"head_motion": 3.0, "motion": 4.0}  # bounded
    photo = np.random.default_rng(0).integers(60, 200, (250, 250, 3)).astype(np.uint8)
    for name in burst_names():  # every instrument accepts its prompted parameters
        frames = render_burst(name, photo, np.random.default_rng(1), frames=2,
                              params=prompted_params(name))
        assert len(frames) == 2


def test_the_transaction_counts_the_final_look() -> None:
    final = {"bona_fide": [0.9, 0.8, 0.3, 0.5], "printed_photo_still": [0.42, 0.42],
             "phone_replay": [0.0, 0.5]}
    report = second_look_report(final, {"bona_fide": 2, "printed_photo_still": 2}, 0.445,
                                0.05)
    assert report["bpcer"] == 0.25
    assert report["apcer"] == {"printed_photo_still": 0.0, "phone_replay": 0.5}
    assert report["taken"] == {"bona_fide": 2, "printed_photo_still": 2, "phone_replay": 0}
    assert report["verdicts"]["bona_fide"] == {"LIVE": 3, "UNCERTAIN": 1, "ATTACK": 0}
