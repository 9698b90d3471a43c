"""Properties of the decision policy over generated inputs: no ACCEPT without every piece of
evidence, a verdict for every input, and thresholds that are valid or refused."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from examgate.core.codec import SCHEMA_DIR
from examgate.core.policy import (
    ACCEPT,
    REJECT,
    REVIEW,
    LivenessCheck,
    Thresholds,
    Verdict,
    decide,
    fail_closed,
)

# No example database: it would leave a .hypothesis/ folder in the working tree.
PROPS = settings(max_examples=300, deadline=None, database=None)
LIVE = LivenessCheck(score=0.9, pass_threshold=0.8, attack_threshold=0.3)
REASON_CODES = set(json.loads((SCHEMA_DIR / "ReasonCode.avsc").read_text())["symbols"])

cosines = st.floats(-1.0, 1.0)
# Everything a broken pipeline or a wrong caller could hand over in place of a score.
junk = st.one_of(st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                 st.floats(), st.integers(), st.booleans(), st.text(max_size=3),
                 st.floats(-1.01, 1.01))


@st.composite
def valid_thresholds(draw: st.DrawFn) -> Thresholds:
    """Thresholds that satisfy the rules: 0 < accept < replay <= 1, -1 <= reject <= accept."""
    accept = draw(st.floats(1e-6, 0.999, exclude_max=True))
    reject = draw(st.floats(-1.0, accept))
    replay = draw(st.floats(accept, 1.0, exclude_min=True))
    fars = st.floats(0.0, 1.0)
    return Thresholds(accept=accept, reject=reject, replay=replay,
                      accept_far=draw(fars), reject_far=draw(fars))


@st.composite
def liveness_checks(draw: st.DrawFn) -> LivenessCheck:
    """A valid liveness result: thresholds in order, any score (junk included)."""
    attack = draw(st.floats(0.0, 1.0))
    return LivenessCheck(score=draw(st.one_of(st.floats(0.0, 1.0), junk)),
                         pass_threshold=draw(st.floats(attack, 1.0)), attack_threshold=attack,
                         single_frame=draw(st.booleans()), single_frame_ok=draw(st.booleans()))


# What a broken pipeline or a wrong caller could pass for each argument.
JUNK = {
    "enrolled": st.one_of(st.just(False), st.none()),
    "face_count": st.one_of(st.integers(-2, 4), st.none(), st.booleans(), st.floats(0, 2)),
    "quality_failures": st.one_of(st.none(), st.text(max_size=3),
                                  st.lists(st.sampled_from(["BLURRY", "DARK", "SMALL"]),
                                           min_size=1, max_size=2)),
    "similarity": junk,
    "replay_similarity": junk,
    "thresholds": st.none(),
    "liveness": st.one_of(st.none(), liveness_checks()),
}


@st.composite
def inputs(draw: st.DrawFn) -> dict:
    """A clean check-in (real scores, one face, enrolled), with some arguments spoiled."""
    kw = {"enrolled": True, "face_count": 1, "quality_failures": draw(st.sampled_from([[], ()])),
          "similarity": draw(cosines), "replay_similarity": draw(cosines),
          "thresholds": draw(valid_thresholds()),
          "liveness": LivenessCheck(score=draw(st.floats(0.8, 1.0)), pass_threshold=0.8,
                                    attack_threshold=0.3)}
    for name in draw(st.sets(st.sampled_from(sorted(JUNK)), max_size=3)):
        kw[name] = draw(JUNK[name])
    return kw


def _is_finite_real(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


@PROPS
@given(inputs())
def test_every_input_gets_a_verdict_with_a_known_reason(kw: dict) -> None:
    verdict = decide(**kw)
    assert isinstance(verdict, Verdict)
    assert verdict.outcome in (ACCEPT, REVIEW, REJECT)
    assert verdict.reason in REASON_CODES
    assert verdict.detail


@PROPS
@given(inputs())
def test_accept_needs_every_piece_of_evidence(kw: dict) -> None:
    verdict = decide(**kw)
    if verdict.outcome != ACCEPT:
        return
    t = kw["thresholds"]
    assert isinstance(t, Thresholds) and 0 < t.accept < t.replay <= 1
    assert kw["enrolled"] is True
    assert kw["face_count"] == 1 and type(kw["face_count"]) is int
    assert isinstance(kw["quality_failures"], list | tuple) and not kw["quality_failures"]
    sim, replay = kw["similarity"], kw["replay_similarity"]
    assert _is_finite_real(sim) and t.accept <= sim <= 1.001
    assert _is_finite_real(replay) and -1.001 <= replay < t.replay
    live = kw["liveness"]
    assert isinstance(live, LivenessCheck) and _is_finite_real(live.score)
    assert live.pass_threshold <= live.score <= 1.0
    assert not live.single_frame or live.single_frame_ok
    assert verdict.reason == "MATCH"


@PROPS
@given(inputs(), st.one_of(st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf)))
def test_a_missing_or_non_finite_score_never_accepts(kw: dict, bad: float | None) -> None:
    for field in ("similarity", "replay_similarity"):
        assert decide(**(kw | {field: bad})).outcome != ACCEPT


@PROPS
@given(valid_thresholds(), cosines, cosines, cosines)
def test_a_higher_similarity_never_lowers_the_outcome(t: Thresholds, a: float, b: float,
                                                      replay: float) -> None:
    rank = {REJECT: 0, REVIEW: 1, ACCEPT: 2}
    low, high = sorted((a, b))

    def outcome(sim: float) -> str:
        return decide(enrolled=True, face_count=1, quality_failures=[], similarity=sim,
                      replay_similarity=replay, thresholds=t, liveness=LIVE).outcome

    assert rank[outcome(low)] <= rank[outcome(high)]


@PROPS
@given(inputs(), liveness_checks())
def test_an_attack_is_rejected_whatever_the_match(kw: dict, live: LivenessCheck) -> None:
    verdict = decide(**(kw | {"liveness": live}))
    valid = isinstance(kw["thresholds"], Thresholds)
    one_face = type(kw["face_count"]) is int and kw["face_count"] == 1  # True is no count
    if live.verdict == "ATTACK" and valid and kw["enrolled"] is True and one_face:
        assert (verdict.outcome, verdict.reason) == (REJECT, "PRESENTATION_ATTACK")
    if live.verdict != "LIVE":
        assert verdict.outcome != ACCEPT


@PROPS
@given(st.text(), st.text())
def test_fail_closed_never_accepts(reason: str, detail: str) -> None:
    verdict = fail_closed(reason, detail)
    assert verdict.outcome == REVIEW and verdict.reason in REASON_CODES


threshold_values = st.one_of(st.floats(), st.floats(-1.5, 1.5), st.integers(-2, 2), st.none(),
                             st.booleans(), st.text(max_size=3))


@PROPS
@given(st.fixed_dictionaries({k: threshold_values for k in
                              ("accept", "reject", "accept_far", "reject_far", "replay")}))
def test_thresholds_are_valid_or_refused_with_a_value_error(kw: dict) -> None:
    try:
        t = Thresholds(**kw)
    except ValueError as exc:
        assert "Thresholds." in str(exc)
        return
    values = [t.accept, t.reject, t.accept_far, t.reject_far, t.replay]
    assert all(_is_finite_real(v) for v in values)
    assert -1 <= t.reject <= t.accept and 0 < t.accept < t.replay <= 1
    assert 0 <= t.accept_far <= 1 and 0 <= t.reject_far <= 1
