"""The liveness check: the learned detector, the context cues and the burst's motion, fused.

Cost on one thread, measured on this project's shared 2-core build VM (other
jobs running, so +-20 %), a 640x480 primary with a 150-px face and 4 burst
frames (best of 30 runs): the two MiniFASNets 8.5-10 ms, edges + glare + moire
3.5-4 ms, the motion cue 10-11.5 ms (a grey crop around the face scaled to a
120-px face, never the full frame): 23.5-26 ms a check; one frame alone 13-15 ms.
The cost grows with the face's size in pixels (the crops are cut at full
resolution, then scaled): a 1,200-px face in a 12-megapixel photo takes ~90 ms.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from examgate.core.liveness_settings import LivenessSettings
from examgate.vision.liveness.antispoof import ANTISPOOF_FILES, AntiSpoof
from examgate.vision.liveness.cues import edge_cue, glare_cue, moire_cue
from examgate.vision.liveness.fusion import fuse, why_not_live
from examgate.vision.liveness.motion import motion_cue
from examgate.vision.types import Detection

ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class LivenessEvidence:
    """What the liveness check saw on one check-in."""

    score: float  # fused live score in [0, 1]; higher = more live
    frames: int  # frames looked at (1 = the primary only)
    single_frame: bool  # True when no burst frame could be used
    signals: dict[str, float] = field(default_factory=dict)  # every measured signal by name
    fired: tuple[str, ...] = ()  # names of the signals that voted "attack"
    why: str = ""  # what kept the score from rising past the still-face cap (why_not_live)
    ms: float = 0.0  # milliseconds spent in liveness


def _usable(frame: object, shape: tuple[int, ...]) -> np.ndarray | None:
    """``frame`` as a BGR uint8 array of ``shape``, or None when it cannot be one.

    A frame of another size but the same aspect ratio (within 1 %) is resized to
    the primary's size: the same view at another resolution. Any other frame is
    skipped, as is anything that is not a 3-channel uint8 image.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
        return None
    if frame.shape[2] != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
        return None
    if frame.shape == shape:
        return frame
    h, w = shape[:2]
    if abs(frame.shape[1] / frame.shape[0] - w / h) > ASPECT_TOLERANCE * (w / h):
        return None
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA
                      if frame.shape[1] > w else cv2.INTER_LINEAR)


def select_burst(primary: np.ndarray, burst: Sequence[object], max_frames: int
                 ) -> list[np.ndarray]:
    """Up to ``max_frames`` usable burst frames, spread evenly over the burst (the last
    one included: the longer the interval, the larger the motion to judge)."""
    usable = [f for f in (_usable(b, primary.shape) for b in burst) if f is not None]
    if max_frames <= 0 or not usable:
        return []
    if len(usable) <= max_frames:
        return usable
    picks = np.linspace(0, len(usable) - 1, max_frames).round().astype(int)
    return [usable[i] for i in sorted(set(picks.tolist()))]


class LivenessChecker:
    """Scores one face in a primary frame (and its burst) for presentation attacks.

    Without ``antispoof`` (no model files) the context and motion cues still run,
    but a single frame can then never reach the pass threshold (see
    :mod:`.fusion`). ``settings.enabled`` is the caller's switch: a checker, once
    built, always checks.
    """

    def __init__(self, antispoof: AntiSpoof | None, settings: LivenessSettings) -> None:
        self.antispoof = antispoof
        self.settings = settings

    @classmethod
    def from_files(cls, files: Mapping[str, Path], settings: LivenessSettings,
                   threads: int = 1) -> LivenessChecker:
        """Load the anti-spoofing models from ``files`` (role -> path, roles as in
        :data:`ANTISPOOF_FILES`), checking each SHA-256."""
        return cls(AntiSpoof.from_files(files, threads), settings)

    @classmethod
    def from_settings(cls, settings: LivenessSettings, threads: int = 1) -> LivenessChecker:
        """Load the anti-spoofing models from ``settings.models_dir``."""
        files = {role: settings.models_dir / meta[0] for role, meta in ANTISPOOF_FILES.items()}
        return cls.from_files(files, settings, threads)

    def check(self, primary: np.ndarray, face: Detection, burst: Sequence[np.ndarray]
              ) -> LivenessEvidence:
        """Score ``face`` in the BGR ``primary`` frame, using up to ``burst_max_frames``
        of ``burst`` (unusable frames skipped, see :func:`select_burst`)."""
        t0 = time.perf_counter()
        if not isinstance(primary, np.ndarray) or primary.ndim != 3 or primary.shape[2] != 3:
            raise ValueError("the primary frame must be a BGR image (H, W, 3)")
        s = self.settings
        signals: dict[str, float] = {}
        if self.antispoof is not None:
            signals["antispoof"] = self.antispoof.score(primary, face)
        signals["edges"] = edge_cue(primary, face)
        for name, value in (("glare", glare_cue(primary, face)),
                            ("moire", moire_cue(primary, face))):
            if value is not None:
                signals[name] = value
        frames = select_burst(primary, burst, s.burst_max_frames)
        motion = motion_cue(primary, face, frames, min_motion_px=s.min_motion_px)
        used = 0 if motion is None else motion.frames_used
        if motion is not None:
            signals.update(motion_px=motion.motion_px, planarity=motion.planarity,
                           parallax_px=motion.parallax_px, parallax_snr=motion.parallax_snr)
            if motion.surround_coherence is not None:
                signals["surround_coherence"] = motion.surround_coherence
        fused = fuse(signals, s, single_frame=used == 0)
        return LivenessEvidence(score=fused.score, frames=1 + used, single_frame=used == 0,
                                signals=signals, fired=fused.fired,
                                why=why_not_live(signals, s, single_frame=used == 0),
                                ms=(time.perf_counter() - t0) * 1000.0)
