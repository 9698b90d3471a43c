"""One live score from many signals, by fixed, written-down rules (nothing fitted).

1. Every attack signal becomes evidence in [0, 1] by a piecewise-linear map
   that puts its firing point (a setting) at 0.5: 0 at "nothing seen", 0.5 at
   the firing point, 1 at the far end of its scale. A signal at or above 0.5
   has *fired*. Signals: ``antispoof`` (1 - the detector's live probability),
   ``edges``, ``glare``, ``moire``, and, when the burst moved enough to judge,
   ``planar_motion`` (low planarity) and ``surround_moves`` (coherence).
2. The single-frame score is 1 - the strongest evidence. The strongest, not a
   sum: the cues are not independent (a screen shows moire *and* glare), and
   one clear sign of an attack is enough to doubt a face.
3. Two rules cap or raise the strongest evidence. Glare and a moving surround
   are easy to see on a live face too (glasses reflect lights, hair moves with
   the head), so alone they stop at :data:`WEAK_CEILING`: enough to fire and
   keep a face from passing, never enough for a confident attack (score 0.3,
   above the default attack threshold of 0.25). Planar motion
   together with a surround that moves along is a hand-held print or phone
   (face and margin moving as one plane): evidence at least :data:`PLANE_AND_SURROUND`.
4. Motion (burst only). Live evidence in [0, 1] rises from planarity at the
   planar firing point to 1 at ``nonplanar_live_at``, and counts only when the
   face moved at least ``min_motion_px`` (and at most ``max_motion_px``, beyond
   which it cannot be tracked to a fraction of a pixel) and the residual clears
   tracking noise three ways: ``parallax_live_px`` (an absolute floor),
   ``live_planarity_min`` (noise grows with the motion: a shaken print's
   residual is 2-4 % of how far it moved) and ``parallax_live_snr`` (noise
   measured in the frames themselves, forward-backward). With
   none, the score is capped half-way between the thresholds (a still face
   proves nothing); with full evidence and nothing fired, it moves
   ``motion_lift`` of the way to 1; partial evidence blends the two. Motion
   never overrides a fired signal, and counts not at all while any signal's
   evidence reaches ``motion_max_doubt`` (near firing): a screen replaying a
   video and a bent print move in 3D too.
5. A single frame (no usable burst) is scored by 1-3 alone; the policy decides
   whether that gate may pass on one frame. Without the learned detector, a
   single frame is capped like a still face: nothing positive was seen.

The firing points are settings (:class:`~examgate.core.liveness_settings.LivenessSettings`);
the pass and attack thresholds a model version decides with are calibrated on
bona fide captures (:mod:`examgate.models.liveness_calibration`). The score is a
pure function of the signals and the settings: the same inputs, the same score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from examgate.core.liveness_settings import LivenessSettings

SIGNALS = ("antispoof", "edges", "glare", "moire", "planar_motion", "surround_moves")
"""Names a check may put in ``fired``, in the order they are listed."""
WEAK_CEILING = 0.7
PLANE_AND_SURROUND = 0.8


@dataclass(frozen=True)
class Fused:
    """The fused live score, what fired, and the evidence of each attack signal."""

    score: float
    fired: tuple[str, ...]
    evidence: dict[str, float]


def still_cap(s: LivenessSettings) -> float:
    """The highest score a burst without 3D motion can reach (rule 4): half-way between the
    settings' thresholds. A pass threshold at or below it would let a still print pass."""
    return (s.attack_threshold + s.pass_threshold) / 2.0


def evidence(value: float, fire_at: float) -> float:
    """Map ``value`` in [0, 1] to evidence: 0 -> 0, ``fire_at`` -> 0.5, 1 -> 1, linear between."""
    v = min(max(value, 0.0), 1.0)
    t = min(max(fire_at, 1e-6), 1.0 - 1e-6)
    return 0.5 * v / t if v <= t else 0.5 + 0.5 * (v - t) / (1.0 - t)


def planar_evidence(planarity: float, fire_below: float, live_at: float) -> float:
    """1 for a perfect plane, 0.5 at ``fire_below``, falling to 0 at ``live_at``."""
    if planarity <= fire_below:
        return 0.5 + 0.5 * (1.0 - max(planarity, 0.0) / fire_below)
    return 0.5 * max(0.0, (live_at - planarity) / (live_at - fire_below))


def _relief_above_noise(signals: Mapping[str, float], s: LivenessSettings) -> bool:
    """The residual clears the absolute floor and, where measured, the noise of the frames'
    own tracking (a signal dict without ``parallax_snr`` predates it)."""
    snr = signals.get("parallax_snr")
    return (signals.get("parallax_px", 0.0) >= s.parallax_live_px
            and (snr is None or snr >= s.parallax_live_snr))


def live_motion(signals: Mapping[str, float], s: LivenessSettings) -> float:
    """Live evidence in [0, 1] from the motion signals (0 when not measured)."""
    planarity, parallax = signals.get("planarity"), signals.get("parallax_px")
    if planarity is None or parallax is None or not _relief_above_noise(signals, s):
        return 0.0
    motion = signals.get("motion_px", 0.0)
    if motion < s.min_motion_px:
        return 0.0  # sub-pixel jitter: the ratio is noise over almost nothing
    if motion > s.max_motion_px:
        return 0.0  # too fast to track: what is left unexplained is the tracker's failure
    if planarity < s.live_planarity_min:
        return 0.0  # a residual this small beside the motion is tracking noise, not relief
    span = s.nonplanar_live_at - s.planar_fire_below
    return min(max((planarity - s.planar_fire_below) / span, 0.0), 1.0)


def attack_evidence(signals: Mapping[str, float], s: LivenessSettings) -> dict[str, float]:
    """Evidence in [0, 1] of each attack signal that was measured (rules 1 and 3)."""
    ev: dict[str, float] = {}
    if "antispoof" in signals:
        ev["antispoof"] = evidence(1.0 - signals["antispoof"], 1.0 - s.antispoof_fire_below)
    for name, fire_at in (("edges", s.edges_fire_at), ("glare", s.glare_fire_at),
                          ("moire", s.moire_fire_at)):
        if name in signals:
            ev[name] = evidence(signals[name], fire_at)
    judged = signals.get("motion_px", 0.0) >= s.min_motion_px
    if judged and "planarity" in signals:
        ev["planar_motion"] = planar_evidence(signals["planarity"], s.planar_fire_below,
                                              s.nonplanar_live_at)
    if judged and "surround_coherence" in signals:
        ev["surround_moves"] = evidence(signals["surround_coherence"], s.surround_fire_at)
    for weak in ("glare", "surround_moves"):
        if weak in ev:
            ev[weak] = min(ev[weak], WEAK_CEILING)
    if ev.get("planar_motion", 0.0) >= 0.5 and ev.get("surround_moves", 0.0) >= 0.5:
        ev["planar_motion"] = max(ev["planar_motion"], PLANE_AND_SURROUND)
    return ev


def fuse(signals: Mapping[str, float], s: LivenessSettings, *, single_frame: bool) -> Fused:
    """The fused live score in [0, 1] (higher = more live) and the signals that fired."""
    ev = attack_evidence(signals, s)
    fired = tuple(name for name in SIGNALS if ev.get(name, 0.0) >= 0.5)
    score = 1.0 - max(ev.values(), default=0.0)
    middle = still_cap(s)
    if single_frame:
        if "antispoof" not in signals:
            score = min(score, middle)
    else:
        # Motion is live evidence only while every other signal stays clear of its firing
        # point: a replayed video and a bent print move in 3D too.
        doubt = max(ev.values(), default=0.0)
        live = live_motion(signals, s) if doubt < s.motion_max_doubt else 0.0
        capped = min(score, middle) if s.require_motion else score
        lifted = score if fired else score + s.motion_lift * (1.0 - score)
        score = (1.0 - live) * capped + live * lifted
    return Fused(float(min(max(score, 0.0), 1.0)), fired, ev)


def why_not_live(signals: Mapping[str, float], s: LivenessSettings, *, single_frame: bool) -> str:
    """In a few words, what kept a score from rising above the still-face cap: the first of
    a fired signal, one frame only, too little motion, a signal near firing, too little
    relief for a head, or motion too flat; "" when motion counted as live."""
    ev = attack_evidence(signals, s)
    fired = [name for name in SIGNALS if ev.get(name, 0.0) >= 0.5]
    if fired:
        return "fired: " + ", ".join(fired)
    if single_frame:
        return "one frame only"
    if signals.get("motion_px", 0.0) < s.min_motion_px:
        return "too little motion"
    if signals.get("motion_px", 0.0) > s.max_motion_px:
        return "motion too fast"
    if max(ev.values(), default=0.0) >= s.motion_max_doubt:
        return "a signal near firing"
    if not _relief_above_noise(signals, s):
        return "too little relief"
    return "" if live_motion(signals, s) > 0.0 else "motion too flat"
