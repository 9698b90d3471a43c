"""Liveness thresholds for a model version, fixed on bona fide presentations only.

ISO/IEC 30107-3 reports APCER (attacks passed) at a chosen BPCER (live faces refused).
The thresholds here are chosen the same way round: the pass threshold is the
fused live score that ``target_bpcer`` of bona fide bursts fall below, and the
attack threshold the one that ``attack_bpcer`` (far fewer) fall below, so a
live student is almost never REJECTed for liveness. No attack sample chooses a
threshold: attacks are what the thresholds are measured on (``examgate bench pad``),
not what they are fitted to.

One structural bound comes first: a burst whose face shows no 3D motion is
capped at :func:`~examgate.vision.liveness.fusion.still_cap` (a still face proves
nothing), so the pass threshold is never set at or below that cap plus
:data:`STILL_MARGIN`, whatever the bona fide quantile says; the BPCER this costs
is recorded (``bpcer_at_pass``).

The bona fide bursts are synthetic: an LFW photo of a calibration-split identity
(never simulated or evaluated) moved with natural micro-motion over a still
gate scene (:mod:`examgate.augment.bursts`). A university with its own live
captures should recalibrate on them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from examgate.augment import render_burst
from examgate.core.digest import sha256_file
from examgate.core.liveness_settings import LivenessSettings
from examgate.core.settings import Settings
from examgate.vision.detectors import detector_from_settings
from examgate.vision.liveness import LivenessChecker
from examgate.vision.liveness.antispoof import ANTISPOOF_FILES
from examgate.vision.liveness.fusion import still_cap

log = logging.getLogger("examgate.bootstrap")
BURST_FRAMES = 5  # the primary + the gate's default 4 extra frames
BONA_FIDE_SEED = 30107
STILL_MARGIN = 0.02  # the pass threshold's distance above the still-face cap, at least


@dataclass(frozen=True)
class LivenessCalibration:
    """The chosen thresholds and how they were found."""

    pass_threshold: float
    attack_threshold: float
    target_bpcer: float
    attack_bpcer: float
    pass_floor: float
    bpcer_at_pass: float
    samples: int
    score_p01: float
    score_p50: float
    fusion: dict[str, object] = field(default_factory=dict)  # the scoring rules' settings

    def spec(self) -> dict[str, object]:
        """The ``liveness`` entry of a model version's spec."""
        return {**asdict(self), "method": "fused live score (examgate.vision.liveness)",
                "bona_fide": "synthetic micro-motion bursts of LFW calibration-split photos"}


def fusion_settings(lv: LivenessSettings) -> dict[str, object]:
    """The liveness settings that shape the fused score (all but where the files are and the
    switch): a model version keeps them beside its thresholds, which mean nothing without."""
    return lv.model_dump(mode="json", exclude={"models_dir", "enabled"})


def liveness_files(settings: Settings) -> dict[str, Path]:
    """Role -> path of each liveness model file in ``vision.liveness.models_dir``."""
    folder = settings.vision.liveness.models_dir
    return {role: folder / meta[0] for role, meta in ANTISPOOF_FILES.items()}


def thresholds_from_scores(scores: np.ndarray, target_bpcer: float, attack_bpcer: float,
                           pass_floor: float = 0.0) -> tuple[float, float]:
    """(pass, attack): the scores below which ``target_bpcer`` and ``attack_bpcer`` of the
    bona fide samples lie, the pass threshold at least ``pass_floor`` (attack never above
    pass)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError("liveness calibration needs finite bona fide scores")
    if not 0.0 <= attack_bpcer <= target_bpcer < 1.0:
        raise ValueError("need 0 <= attack_bpcer <= target_bpcer < 1")
    # score >= threshold passes: the k-th lowest score is the threshold that refuses k samples.
    k_pass = int(np.floor(target_bpcer * s.size + 1e-9))
    k_attack = int(np.floor(attack_bpcer * s.size + 1e-9))
    pass_t = max(float(s[k_pass]), pass_floor)
    attack_t = float(s[k_attack]) if k_attack > 0 else float(s[0]) * 0.5
    return pass_t, min(attack_t, pass_t)


def bona_fide_scores(settings: Settings, names: list[str], *, frames: int = BURST_FRAMES,
                     seed: int = BONA_FIDE_SEED) -> np.ndarray:
    """The fused live score of one synthetic bona fide burst per image (skipping images
    whose primary frame shows no face)."""
    from rich.progress import track

    v = settings.vision
    detector = detector_from_settings(v)
    checker = LivenessChecker.from_files(liveness_files(settings), v.liveness,
                                         threads=v.intra_op_threads)
    rng = np.random.default_rng(seed)
    scores = []
    for name in track(names, description="calibrating liveness on bona fide bursts"):
        image = cv2.imread(str(settings.data.lfw_dir / "images" / name), cv2.IMREAD_COLOR)
        if image is None:
            continue
        burst = render_burst("bona_fide", image, rng, frames=frames)
        faces = detector.detect(burst[0])
        if not faces:
            continue
        scores.append(checker.check(burst[0], faces[0], burst[1:]).score)
    return np.asarray(scores, dtype=np.float64)


def _cache_path(settings: Settings, names: list[str]) -> Path:
    lv = settings.vision.liveness
    key = json.dumps([sorted(sha256_file(p) for p in liveness_files(settings).values()),
                      lv.model_dump(mode="json", exclude={"models_dir"}), settings.vision.detector,
                      names, BURST_FRAMES, BONA_FIDE_SEED], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.stack.cache_dir / "calibration" / f"liveness-{digest}.npz"


def calibrate_liveness(settings: Settings, names: list[str], *, samples: int = 300,
                       target_bpcer: float = 0.01, attack_bpcer: float = 0.002
                       ) -> LivenessCalibration:
    """Thresholds from ``samples`` bona fide bursts of ``names`` (cached by model files,
    liveness settings and images)."""
    chosen = sorted(names)[:: max(1, len(names) // samples)][:samples]
    cache = _cache_path(settings, chosen)
    if cache.is_file():
        scores = np.load(cache)["scores"]
        log.info("liveness calibration: %d cached bona fide scores from %s", len(scores), cache)
    else:
        scores = bona_fide_scores(settings, chosen)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, scores=scores)
    floor = round(still_cap(settings.vision.liveness) + STILL_MARGIN, 6)
    pass_t, attack_t = thresholds_from_scores(scores, target_bpcer, attack_bpcer, floor)
    pass_t, attack_t = round(pass_t, 6), round(attack_t, 6)
    cal = LivenessCalibration(
        pass_threshold=pass_t, attack_threshold=attack_t,
        target_bpcer=target_bpcer, attack_bpcer=attack_bpcer, pass_floor=floor,
        bpcer_at_pass=float(np.mean(scores < pass_t)), samples=int(scores.size),
        score_p01=float(np.quantile(scores, 0.01)), score_p50=float(np.median(scores)),
        fusion=fusion_settings(settings.vision.liveness))
    log.info("liveness calibration: %d bona fide bursts; pass >= %.4f (BPCER %.3f), attack "
             "< %.4f", cal.samples, cal.pass_threshold, cal.bpcer_at_pass, cal.attack_threshold)
    return cal
