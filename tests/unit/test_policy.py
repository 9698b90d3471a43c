"""The decision policy: each reason, and no ACCEPT without evidence."""

from __future__ import annotations

import itertools
import json

import pytest

from examgate.core.policy import (
    ACCEPT,
    REJECT,
    REVIEW,
    LivenessCheck,
    Thresholds,
    decide,
    fail_closed,
    second_look,
)

T = Thresholds(accept=0.5, reject=0.3, replay=0.99)
LIVE = LivenessCheck(score=0.9, pass_threshold=0.8, attack_threshold=0.3)


def _live(score: float | None, **kw) -> LivenessCheck:
    return LivenessCheck(score=score, pass_threshold=0.8, attack_threshold=0.3, **kw)


def _decide(**kw):
    args = dict(enrolled=True, face_count=1, quality_failures=[], similarity=0.7,
                replay_similarity=0.6, thresholds=T, liveness=LIVE)
    args.update(kw)
    return decide(**args)


@pytest.mark.parametrize(("kw", "outcome", "reason"), [
    ({}, ACCEPT, "MATCH"),
    ({"similarity": 0.5}, ACCEPT, "MATCH"),
    ({"similarity": 0.4}, REVIEW, "UNCERTAIN_MATCH"),
    ({"similarity": 0.1}, REJECT, "NO_MATCH"),
    ({"enrolled": False}, REVIEW, "NOT_ENROLLED"),
    ({"face_count": 0, "similarity": None}, REVIEW, "NO_FACE"),
    ({"face_count": 2}, REVIEW, "MULTIPLE_FACES"),
    ({"quality_failures": ["BLURRY"]}, REVIEW, "LOW_QUALITY"),
    ({"replay_similarity": 0.999}, REJECT, "REPLAY_SUSPECTED"),
    ({"similarity": float("nan")}, REVIEW, "INTERNAL_ERROR"),
    ({"similarity": None}, REVIEW, "INTERNAL_ERROR"),
    ({"liveness": _live(0.1)}, REJECT, "PRESENTATION_ATTACK"),
    ({"liveness": _live(0.1), "similarity": 0.1}, REJECT, "PRESENTATION_ATTACK"),
    ({"liveness": _live(0.5)}, REVIEW, "LIVENESS_UNCERTAIN"),
    ({"liveness": _live(0.9, single_frame=True)}, REVIEW, "LIVENESS_UNCERTAIN"),
    ({"liveness": _live(0.9, single_frame=True, single_frame_ok=True)}, ACCEPT, "MATCH"),
    ({"liveness": _live(None)}, REVIEW, "LIVENESS_UNCERTAIN"),
    ({"liveness": _live(float("nan"))}, REVIEW, "LIVENESS_UNCERTAIN"),
    ({"liveness": None}, REVIEW, "LIVENESS_UNCERTAIN"),
    ({"liveness": _live(0.5), "quality_failures": ["BLURRY"]}, REVIEW, "LOW_QUALITY"),
    ({"liveness": _live(0.1), "face_count": 2}, REVIEW, "MULTIPLE_FACES"),
    # The enrollment photo sent again, one still frame: a replay, not merely uncertain.
    ({"liveness": _live(0.5, single_frame=True), "replay_similarity": 0.999}, REJECT,
     "REPLAY_SUSPECTED"),
    ({"liveness": None, "replay_similarity": 0.999}, REJECT, "REPLAY_SUSPECTED"),
    ({"liveness": _live(0.1), "replay_similarity": 0.999}, REJECT, "PRESENTATION_ATTACK"),
])
def test_reasons(kw, outcome, reason) -> None:
    verdict = _decide(**kw)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert verdict.detail


def test_accept_only_with_all_evidence() -> None:
    grid = itertools.product([True, False], [0, 1, 2], [[], ["BLURRY"]],
                             [None, 0.2, 0.4, 0.9, float("nan")], [None, 0.5, 0.999])
    for enrolled, faces, failures, sim, replay in grid:
        v = decide(enrolled=enrolled, face_count=faces, quality_failures=failures,
                   similarity=sim, replay_similarity=replay, thresholds=T, liveness=LIVE)
        if v.outcome == ACCEPT:
            assert enrolled and faces == 1 and not failures and sim is not None and sim >= T.accept
            assert replay is not None and replay < T.replay


def test_fail_closed_never_accepts() -> None:
    assert fail_closed("TEMPLATE_UNAVAILABLE", "redis down").outcome == REVIEW
    assert fail_closed("MATCH", "a bug passing the wrong code").reason == "INTERNAL_ERROR"


def test_thresholds_validated() -> None:
    with pytest.raises(ValueError):
        Thresholds(accept=0.2, reject=0.5)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("kw", "field"), [
    ({"accept": -1.0, "reject": -1.0}, "accept"),
    ({"accept": 0.0, "reject": -0.5}, "accept"),
    ({"accept": NAN}, "accept"),
    ({"accept": INF}, "accept"),
    ({"accept": 1.5, "replay": 1.0}, "accept"),
    ({"reject": NAN}, "reject"),
    ({"reject": -INF}, "reject"),
    ({"reject": -1.5}, "reject"),
    ({"reject": 0.6}, "reject"),
    ({"replay": NAN}, "replay"),
    ({"replay": INF}, "replay"),
    ({"replay": 1.01}, "replay"),
    ({"replay": 0.5}, "replay"),
    ({"replay": 0.4}, "replay"),
    ({"accept_far": NAN}, "accept_far"),
    ({"accept_far": -1e-4}, "accept_far"),
    ({"reject_far": INF}, "reject_far"),
    ({"reject_far": 2.0}, "reject_far"),
    ({"accept": "0.5"}, "accept"),
    ({"replay": None}, "replay"),
    ({"accept": True}, "accept"),
])
def test_thresholds_refuse_nonsense(kw, field) -> None:
    args = dict(accept=0.5, reject=0.3, replay=0.97) | kw
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        Thresholds(**args)


def test_thresholds_edges_are_valid() -> None:
    Thresholds(accept=1e-9, reject=-1.0, replay=1.0, accept_far=0.0, reject_far=1.0)
    Thresholds(accept=0.5, reject=0.5, replay=0.5000001)


def test_stored_thresholds_refused_when_a_version_loads() -> None:
    """The registry builds Thresholds from a JSON spec; JSON happily parses NaN and Infinity."""
    from examgate.adapters.registry import _thresholds_from

    good = {"accept": 0.5, "reject": 0.3, "accept_far": 1e-4, "reject_far": 1e-3, "replay": 0.97}
    assert _thresholds_from(json.loads(json.dumps({"thresholds": good}))).replay == 0.97
    for broken in ('"replay": NaN', '"accept": -1', '"reject": Infinity', '"replay": 0.4'):
        key = broken.split(":")[0].strip('"')
        spec = json.loads(json.dumps({"thresholds": good}).replace(
            f'"{key}": {json.dumps(good[key])}', broken))
        with pytest.raises(ValueError, match=key):
            _thresholds_from(spec)


@pytest.mark.parametrize("kw", [
    {"replay_similarity": NAN},
    {"replay_similarity": -INF},
    {"replay_similarity": None},
    {"replay_similarity": "0.1"},
    {"replay_similarity": -1.5},
    {"similarity": INF},
    {"similarity": -INF},
    {"similarity": True},
    {"similarity": "0.9"},
    {"similarity": 5.0},
    {"similarity": 10**400},
    {"face_count": -1},
    {"face_count": None},
    {"face_count": 1.0},
    {"quality_failures": None},
])
def test_broken_or_missing_measurements_fail_closed(kw) -> None:
    verdict = _decide(**kw)
    assert (verdict.outcome, verdict.reason) == (REVIEW, "INTERNAL_ERROR")
    assert verdict.detail


def test_missing_thresholds_fail_closed() -> None:
    verdict = _decide(thresholds=None)
    assert (verdict.outcome, verdict.reason) == (REVIEW, "MODEL_UNAVAILABLE")


def test_quality_failure_names_of_any_type_still_give_a_verdict() -> None:
    verdict = _decide(quality_failures=[3, None])
    assert (verdict.outcome, verdict.reason) == (REVIEW, "LOW_QUALITY")


def test_liveness_thresholds_validated() -> None:
    with pytest.raises(ValueError):
        LivenessCheck(score=0.5, pass_threshold=0.3, attack_threshold=0.6)
    with pytest.raises(ValueError):
        LivenessCheck(score=0.5, pass_threshold=float("nan"), attack_threshold=0.1)


def _review(why: str, fired: list[str] | None = None, reason: str = "LIVENESS_UNCERTAIN"
            ) -> dict:
    return {"outcome": REVIEW, "reason": reason,
            "liveness": {"verdict": "UNCERTAIN", "fired": fired or [], "why": why}}


@pytest.mark.parametrize("why", ["too little motion", "too little relief", "motion too flat"])
def test_a_face_that_only_lacked_motion_may_have_a_second_look(why: str) -> None:
    look = second_look(_review(why))
    assert look is not None and "turn your head" in look["prompt"] and look["why"] == why


@pytest.mark.parametrize("decision", [
    _review("fired: edges", ["edges"]),               # an attack signal: a proctor looks
    _review("a signal near firing"),
    _review("one frame only"),                         # a single-frame gate cannot film a turn
    _review("score below the pass threshold"),
    _review("too little motion", ["glare"]),          # anything fired: no second chance
    _review("too little motion", reason="LOOKALIKE"),  # not a liveness refusal
    {"outcome": ACCEPT, "reason": "MATCH", "liveness": {"verdict": "LIVE", "why": ""}},
    {"outcome": REVIEW, "reason": "LIVENESS_UNCERTAIN", "liveness": None},  # v1 records
    {"outcome": REVIEW, "reason": "LIVENESS_UNCERTAIN"},
])
def test_no_second_look_when_moving_would_not_settle_it(decision: dict) -> None:
    assert second_look(decision) is None
