"""The decision policy: each reason, and no ACCEPT without evidence."""

from __future__ import annotations

import itertools

import pytest

from examgate.core.policy import ACCEPT, REJECT, REVIEW, Thresholds, decide, fail_closed

T = Thresholds(accept=0.5, reject=0.3, replay=0.99)


def _decide(**kw):
    args = dict(enrolled=True, face_count=1, quality_failures=[], similarity=0.7,
                replay_similarity=0.6, thresholds=T)
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
                   similarity=sim, replay_similarity=replay, thresholds=T)
        if v.outcome == ACCEPT:
            assert enrolled and faces == 1 and not failures and sim >= T.accept
            assert replay is None or replay < T.replay


def test_fail_closed_never_accepts() -> None:
    assert fail_closed("TEMPLATE_UNAVAILABLE", "redis down").outcome == REVIEW
    assert fail_closed("MATCH", "a bug passing the wrong code").reason == "INTERNAL_ERROR"


def test_thresholds_validated() -> None:
    with pytest.raises(ValueError):
        Thresholds(accept=0.2, reject=0.5)
