"""Settings of the liveness checks: a section of :class:`examgate.core.settings.VisionSettings`.

It lives in its own module only to keep ``settings.py`` within the project's module size;
it is configured exactly like the sections there (frozen, unknown keys rejected, every
default validated) and is re-exported as ``examgate.core.settings.LivenessSettings``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class LivenessSettings(BaseModel):
    """Presentation-attack detection (examgate.vision.liveness): model files, the fused
    score's thresholds and each cue's operating point.

    Placeholders until calibration on bona fide and attack captures from real gates. Image
    cues' operating points sit above the 99th percentile of 1,200 LFW news photos of real
    people (their deep-funnelling black borders filled in first: they read as a frame);
    motion ones come from rendered heads (a face-shaped depth map, turned or shifted at
    50 cm) and rendered planes, with sensor noise and JPEG. Motion is in pixels at a
    120-px-wide face (the motion cue rescales to that).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    enabled: bool = Field(True, description="Run the liveness checks at all.")
    models_dir: Path = Field(Path("../shared/models/antispoof"), description=(
        "Folder with MiniFASNetV2.onnx and MiniFASNetV1SE.onnx (checked against their "
        "SHA-256); relative paths are taken from the working directory."))
    pass_threshold: float = Field(0.6, ge=0, le=1, description=(
        "Fused score at or above this is LIVE. Each signal is mapped so that its firing "
        "point reads 0.5, and the score is 1 minus the strongest: 0.6 passes when every "
        "signal is below 80 % of its firing point (antispoof above about 0.32)."))
    attack_threshold: float = Field(0.25, ge=0, le=1, description=(
        "Fused score below this is a confident ATTACK: one signal half-way from its firing "
        "point to certainty (antispoof below about 0.075, 1 % of LFW; planar motion with "
        "the surround moving along); between the thresholds is UNCERTAIN."))
    burst_max_frames: int = Field(4, ge=0, description=(
        "Burst frames used at most (beyond the primary); 4 keeps a check near 25 ms."))
    require_motion: bool = Field(True, description=(
        "When a burst was usable but showed no 3D motion (a still face, or too little "
        "parallax to tell), cap the score half-way between the thresholds: UNCERTAIN. "
        "Off: such a check is scored like a single frame."))
    motion_lift: float = Field(0.5, ge=0, le=1, description=(
        "Clear 3D motion moves the score this fraction of the way to 1, when no signal "
        "fired (it never overrides one: a screen replaying a video moves in 3D too)."))
    motion_max_doubt: float = Field(0.4, gt=0, le=1, description=(
        "Motion counts as live evidence only while every other signal's evidence is below "
        "this (0.5 = its firing point; 0.4 = 80 % of the way there, e.g. antispoof below "
        "about 0.4): a replayed video and a bent print move in 3D too. Costs ~6 % of "
        "rendered live students, stops the phone, screen-video and hand-held prints that "
        "passed at 0.5."))
    min_motion_px: float = Field(1.5, gt=0, description=(
        "Median face motion (px at a 120-px face) needed before motion is judged at all "
        "(live, planar or surround): below it, sub-pixel jitter is mostly noise."))
    max_motion_px: float = Field(40.0, gt=0, description=(
        "Face motion (px at a 120-px face, the largest between the primary and a burst "
        "frame) above which the burst is no live evidence: a face moving a third of its "
        "width in 125 ms blurs, and the tracker's errors there exceed any relief. Rendered "
        "students, even prompted to turn, move 17.5 at most (of 1,200); a tablet swung "
        "66 px passed before this limit."))
    parallax_live_px: float = Field(0.2, gt=0, description=(
        "Neighbour-averaged residual (90th percentile, px at a 120-px face) that no "
        "homography explains, needed for live evidence: rendered flat planes stay at "
        "0.03-0.15 (tracking noise), bent cut-out prints at 0.07-0.19 (95th percentile), "
        "rendered heads turning 1-3 degrees at 0.24-0.68 (5th-95th). Alone, 0.15 let 27 % "
        "of cut-out prints pass; with parallax_live_snr and live_planarity_min (noise "
        "measured, not assumed), 0.2 lets none of 3,591 rendered attacks pass and refuses "
        "29 fewer of 600 bona fide bursts than 0.25 (0.1 let one cut-out through)."))
    nonplanar_live_at: float = Field(0.05, gt=0, description=(
        "Planarity ratio (residual / motion) at which motion counts fully as 3D: rendered "
        "heads turning give 0.05-0.4, planes shifted, tilted or hand-held 0.006-0.047."))
    parallax_live_snr: float = Field(18.0, ge=0, description=(
        "Residual over the tracker's own forward-backward disagreement in the same frames "
        "(parallax_snr) needed for live evidence: tracking noise measured where it arises "
        "(halftone, defocus, blur, sensor noise), not assumed. 3,591 rendered attacks of "
        "every kind moved 1-3x their default: 90th percentile 7-16, highest 28; bona fide "
        "bursts: 10th percentile 27, prompted ones 38. 0 switches the check off."))
    live_planarity_min: float = Field(0.04, ge=0, description=(
        "Planarity ratio below which motion is no live evidence at all, whatever the "
        "residual: tracking noise grows with the motion (blur, resampling), so a print "
        "shaken 10-30 px leaves 0.25-0.5 px unexplained, 2-4 % of its motion; rendered "
        "heads turning give 0.05-0.4. With parallax_live_snr, no rendered attack of 3,591 "
        "passed (30 without either), at 1 more of 1,200 bona fide bursts refused."))
    planar_fire_below: float = Field(0.01, gt=0, description=(
        "Planarity ratio below which the motion is a plane's (signal planar_motion): "
        "rendered planes moving 4-14 px reach 0.006-0.01; heads that only shift sideways "
        "0.014-0.031 (their relief over distance), so it fires only on clear cases."))
    surround_fire_at: float = Field(0.8, ge=0, le=1, description=(
        "Share of the points around the face moving with it (a print's margin, a phone) "
        "at which surround_moves fires; with planar motion as well it is a confident attack."))
    antispoof_fire_below: float = Field(0.15, ge=0, le=1, description=(
        "Mean MiniFASNet live probability below which antispoof fires: 2 % of 800 LFW news "
        "photos (median 0.99) score below it, 1 % below 0.075; that tail is not attacks."))
    edges_fire_at: float = Field(0.7, ge=0, le=1, description=(
        "Edge cue (straight brightness steps framing the face, mean of its three best "
        "sides) at which edges fires; LFW 99th percentile 0.45 (door frames, podiums)."))
    glare_fire_at: float = Field(0.5, ge=0, le=1, description=(
        "Glare cue (largest clipped colourless patch, 1 = 8 % of the inner face) at which "
        "glare fires; LFW 99th percentile 0.22. Glasses reflect lights too, so glare "
        "alone never makes an ATTACK."))
    moire_fire_at: float = Field(0.25, ge=0, le=1, description=(
        "Moire cue (energy in sharp spectral peaks over the face) at which moire fires; "
        "LFW 99.5th percentile 0.0 (max 0.33), stripes of 6 grey levels 0.28-1."))

    @field_validator("models_dir")
    @classmethod
    def absolute_paths(cls, path: Path) -> Path:
        """Relative paths are taken from the working directory once, when settings are read
        (as every path in :mod:`examgate.core.settings`)."""
        return Path(os.path.abspath(path.expanduser()))

    @model_validator(mode="after")
    def ordered_thresholds(self) -> LivenessSettings:
        """An attack verdict must never sit above a pass."""
        if self.attack_threshold > self.pass_threshold:
            raise ValueError(f"liveness attack_threshold ({self.attack_threshold}) is above "
                             f"pass_threshold ({self.pass_threshold})")
        if self.planar_fire_below >= self.nonplanar_live_at:
            raise ValueError("liveness planar_fire_below must be below nonplanar_live_at")
        return self
