"""The liveness checker: pinned model files, the single-frame detector on real faces, burst
handling, the fusion rules and the settings that drive them."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from examgate.core.settings import LivenessSettings, VisionSettings
from examgate.vision import create_detector
from examgate.vision.detectors import Detector
from examgate.vision.errors import ModelFileError
from examgate.vision.liveness import (
    ANTISPOOF_FILES,
    SIGNALS,
    AntiSpoof,
    LivenessChecker,
    LivenessEvidence,
    fuse,
    select_burst,
)
from examgate.vision.liveness.antispoof import crop_box, model_input
from examgate.vision.liveness.fusion import WEAK_CEILING, evidence, why_not_live
from examgate.vision.types import Detection

SETTINGS = LivenessSettings()
MODELS_DIR = SETTINGS.models_dir
MOTION = ("motion_px", "planarity", "parallax_px", "surround_coherence")


@pytest.fixture(scope="module")
def models_dir() -> Path:
    if not all((MODELS_DIR / meta[0]).is_file() for meta in ANTISPOOF_FILES.values()):
        pytest.skip(f"anti-spoofing models not found in {MODELS_DIR}")
    return MODELS_DIR


@pytest.fixture(scope="module")
def checker(models_dir: Path) -> LivenessChecker:
    return LivenessChecker.from_settings(SETTINGS, threads=1)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return create_detector("yunet", score_threshold=0.5, max_side=640, num_threads=1)


def _jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.asarray(decoded)


# --- model files ------------------------------------------------------------------------


def test_the_registry_roles_name_the_files_scales_and_digests() -> None:
    assert set(ANTISPOOF_FILES) == {"antispoof_v2", "antispoof_v1se"}
    assert ANTISPOOF_FILES["antispoof_v2"][:2] == ("MiniFASNetV2.onnx", 2.7)
    assert ANTISPOOF_FILES["antispoof_v1se"][:2] == ("MiniFASNetV1SE.onnx", 4.0)
    assert all(len(meta[2]) == 64 for meta in ANTISPOOF_FILES.values())


def test_a_changed_byte_is_refused(models_dir: Path, tmp_path: Path) -> None:
    files = {}
    for role, (name, _, _) in ANTISPOOF_FILES.items():
        files[role] = tmp_path / name
        shutil.copyfile(models_dir / name, files[role])
    data = bytearray(files["antispoof_v2"].read_bytes())
    data[len(data) // 2] ^= 0x01
    files["antispoof_v2"].write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="antispoof_v2.*SHA-256"):
        LivenessChecker.from_files(files, SETTINGS)


def test_a_missing_file_or_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        LivenessChecker.from_settings(SETTINGS.model_copy(update={"models_dir": tmp_path}))
    with pytest.raises(ModelFileError, match="antispoof_v1se"):
        AntiSpoof.from_files({"antispoof_v2": tmp_path / "MiniFASNetV2.onnx"})


# --- the single-frame detector -----------------------------------------------------------


def test_the_crop_keeps_its_shape_inside_the_image() -> None:
    # A face near the right edge: the patch slides back inside rather than being cut.
    x1, y1, x2, y2 = crop_box((640, 480), (560.0, 200.0, 60.0, 80.0), 2.7)
    assert 0 <= x1 < x2 <= 639 and 0 <= y1 < y2 <= 479
    assert x2 - x1 == pytest.approx(60 * 2.7, abs=1) and y2 - y1 == pytest.approx(80 * 2.7, abs=1)
    # A face too big for the scale: the scale shrinks to what fits.
    x1, y1, x2, y2 = crop_box((640, 480), (200.0, 100.0, 240.0, 300.0), 4.0)
    assert y1 == 0 and y2 == 479 and x2 - x1 == pytest.approx(240 * 479 / 300, abs=1)


def test_the_model_input_is_bgr_0_to_255_unnormalised() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[..., 2] = 200  # red, in BGR order
    face = Detection.from_arrays(np.array([40, 40, 60, 60]), np.full((5, 2), 50.0), 0.9)
    x = model_input(image, face, 2.7)
    assert x.shape == (1, 3, 80, 80) and x.dtype == np.float32
    assert float(x[0, 2].mean()) == pytest.approx(200.0) and float(x[0, :2].max()) == 0.0


@pytest.mark.lfw
def test_a_real_face_gets_a_live_probability(models_dir: Path, detector: Detector,
                                             lfw_image) -> None:
    image = lfw_image("Colin_Powell", 1)
    face = detector.detect(image)[0]
    spoof = AntiSpoof.from_dir(models_dir)
    per_model = spoof.scores(image, face)
    assert set(per_model) == set(ANTISPOOF_FILES)
    assert all(0.0 <= v <= 1.0 for v in per_model.values())
    score = spoof.score(image, face)
    assert score == pytest.approx(sum(per_model.values()) / 2)
    assert 0.5 < score <= 1.0


@pytest.mark.lfw
def test_a_photo_shown_in_a_frame_scores_less_live(models_dir: Path, detector: Detector,
                                                   lfw_image) -> None:
    """The wide crops see the frame around a shown photo: the models' whole point."""
    image = lfw_image("Colin_Powell", 1)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(canvas, (110, 30), (530, 450), (245, 245, 245), -1)
    canvas[40:440, 120:520] = cv2.resize(image, (400, 400))
    spoof = AntiSpoof.from_dir(models_dir)
    live = spoof.score(image, detector.detect(image)[0])
    shown = spoof.score(canvas, detector.detect(canvas)[0])
    assert shown < 0.5 < live


# --- the checker -------------------------------------------------------------------------


@pytest.mark.lfw
def test_one_frame_is_single_frame_with_no_motion_signals(checker: LivenessChecker,
                                                          detector: Detector,
                                                          lfw_image) -> None:
    image = cv2.resize(lfw_image("Colin_Powell", 1), (500, 500))  # big enough for moire
    face = detector.detect(image)[0]
    ev = checker.check(image, face, [])
    assert isinstance(ev, LivenessEvidence)
    assert ev.single_frame and ev.frames == 1
    assert not set(MOTION) & set(ev.signals)
    assert {"antispoof", "edges", "glare", "moire"} <= set(ev.signals)
    assert 0.0 <= ev.score <= 1.0
    assert set(ev.fired) <= set(SIGNALS) and ev.ms > 0
    assert ev.why == why_not_live(ev.signals, checker.settings, single_frame=True)
    assert ev.why == "one frame only" or ev.why.startswith("fired: ")


@pytest.mark.lfw
def test_the_check_is_deterministic(checker: LivenessChecker, detector: Detector,
                                    lfw_image) -> None:
    image = cv2.resize(lfw_image("Tony_Blair", 1), (500, 500))
    face = detector.detect(image)[0]
    shifts = [np.array([[1, 0, 2 * k], [0, 1, k]], np.float32) for k in range(1, 5)]
    burst = [_jpeg(cv2.warpAffine(image, m, (500, 500))) for m in shifts]
    first, second = checker.check(image, face, burst), checker.check(image, face, burst)
    assert (first.score, first.frames, first.single_frame, first.signals, first.fired) == (
        second.score, second.frames, second.single_frame, second.signals, second.fired)
    assert not first.single_frame and first.frames == 5 and "motion_px" in first.signals
    assert first.why == second.why == why_not_live(first.signals, checker.settings,
                                                   single_frame=False)


def test_unusable_burst_frames_are_skipped_never_raised() -> None:
    primary = np.zeros((480, 640, 3), np.uint8)
    ok = np.ones((480, 640, 3), np.uint8)
    half = np.full((240, 320, 3), 7, np.uint8)  # same view, lower resolution: resized
    bad = [None, "frame", np.zeros((480, 640), np.uint8), np.zeros((480, 640, 3), np.float32),
           np.zeros((480, 640, 4), np.uint8), np.zeros((480, 480, 3), np.uint8),
           np.zeros((0, 0, 3), np.uint8)]
    chosen = select_burst(primary, [*bad, ok, half], 4)
    assert len(chosen) == 2 and chosen[0] is ok
    assert chosen[1].shape == primary.shape and int(chosen[1][0, 0, 0]) == 7
    checker = LivenessChecker(None, SETTINGS)
    face = Detection.from_arrays(np.array([250, 160, 400, 310]), np.full((5, 2), 300.0), 0.9)
    ev = checker.check(primary, face, bad)  # type: ignore[arg-type]
    assert ev.single_frame and ev.frames == 1


def test_the_burst_is_thinned_evenly_keeping_the_last_frame() -> None:
    primary = np.zeros((48, 64, 3), np.uint8)
    frames = [np.full((48, 64, 3), i, np.uint8) for i in range(10)]
    chosen = select_burst(primary, frames, 4)
    assert [int(f[0, 0, 0]) for f in chosen] == [0, 3, 6, 9]
    assert select_burst(primary, frames, 0) == []


@pytest.mark.parametrize("box", [(-50, -40, 60, 70), (300, 200, 400, 300), (0, 0, 320, 240),
                                 (100, 100, 105, 104), (150, 100, 150, 100),
                                 (-500, -500, -400, -400), (10, 10, 1000, 800),
                                 (200, 100, 100, 50)])
def test_odd_face_boxes_give_a_score_not_an_exception(box: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    face = Detection.from_arrays(np.array(box, float), np.full((5, 2), 50.0), 0.9)
    for burst in ([], [np.roll(image, k, axis=1) for k in range(1, 5)]):
        ev = LivenessChecker(None, SETTINGS).check(image, face, burst)
        assert 0.0 <= ev.score <= 1.0 and all(np.isfinite(list(ev.signals.values())))


def test_a_primary_that_is_no_colour_image_is_an_error() -> None:
    face = Detection.from_arrays(np.array([10, 10, 50, 50]), np.full((5, 2), 30.0), 0.9)
    with pytest.raises(ValueError, match="BGR"):
        LivenessChecker(None, SETTINGS).check(np.zeros((64, 64), np.uint8), face, [])


# --- fusion ------------------------------------------------------------------------------


def test_every_signal_reads_one_half_at_its_firing_point() -> None:
    assert evidence(0.7, 0.7) == pytest.approx(0.5)
    assert evidence(0.0, 0.7) == 0.0 and evidence(1.0, 0.7) == 1.0
    assert evidence(0.35, 0.7) == pytest.approx(0.25)


def test_a_confident_detector_alone_passes_a_single_frame() -> None:
    fused = fuse({"antispoof": 0.97, "edges": 0.1, "glare": 0.0, "moire": 0.0}, SETTINGS,
                 single_frame=True)
    assert fused.score >= SETTINGS.pass_threshold and fused.fired == ()


def test_the_strongest_attack_signal_decides_and_fires() -> None:
    fused = fuse({"antispoof": 0.97, "edges": 0.95, "glare": 0.0, "moire": 0.0}, SETTINGS,
                 single_frame=True)
    assert fused.fired == ("edges",) and fused.score < SETTINGS.attack_threshold
    low = fuse({"antispoof": 0.02}, SETTINGS, single_frame=True)
    assert low.fired == ("antispoof",) and low.score < SETTINGS.attack_threshold


def test_glare_alone_never_makes_a_confident_attack() -> None:
    fused = fuse({"antispoof": 0.99, "glare": 1.0}, SETTINGS, single_frame=True)
    assert fused.fired == ("glare",)
    assert fused.score == pytest.approx(1.0 - WEAK_CEILING)
    assert SETTINGS.attack_threshold <= fused.score < SETTINGS.pass_threshold


def test_a_still_burst_is_capped_and_3d_motion_lifts() -> None:
    base = {"antispoof": 0.9, "edges": 0.0, "glare": 0.0, "moire": 0.0}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    still = fuse({**base, "motion_px": 0.3, "planarity": 0.5, "parallax_px": 0.05}, SETTINGS,
                 single_frame=False)
    assert still.score == pytest.approx(middle)
    single = fuse(base, SETTINGS, single_frame=True)
    moving = fuse({**base, "motion_px": 4.0, "planarity": 0.15, "parallax_px": 0.6}, SETTINGS,
                  single_frame=False)
    assert moving.score > single.score >= SETTINGS.pass_threshold and moving.fired == ()
    loose = SETTINGS.model_copy(update={"require_motion": False})
    assert fuse({**base, "motion_px": 0.3, "planarity": 0.5, "parallax_px": 0.05}, loose,
                single_frame=False).score == pytest.approx(single.score)


def test_sub_pixel_jitter_is_no_3d_evidence_however_uneven() -> None:
    """A print on a stand jitters by half a pixel; its moire and sheen make the tracks
    uneven, which over so little motion reads as a large ratio. It proves nothing."""
    jitter = {"antispoof": 0.9, "motion_px": 0.5, "planarity": 1.0, "parallax_px": 0.5}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    assert fuse(jitter, SETTINGS, single_frame=False).score == pytest.approx(middle)


def test_3d_motion_never_overrides_a_fired_signal() -> None:
    signals = {"antispoof": 0.9, "moire": 0.9, "motion_px": 4.0, "planarity": 0.2,
               "parallax_px": 0.8}
    fused = fuse(signals, SETTINGS, single_frame=False)
    assert "moire" in fused.fired
    assert fused.score == pytest.approx(fuse(signals, SETTINGS, single_frame=True).score)


def test_3d_motion_counts_only_while_no_signal_is_near_firing() -> None:
    """A replayed video moves in 3D with the detector unsure (antispoof 0.2, not yet firing at
    0.15): the motion must not lift it to a pass. The same motion with a clear face does."""
    moving = {"motion_px": 10.0, "planarity": 0.2, "parallax_px": 0.6, "edges": 0.0}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    doubtful = fuse({**moving, "antispoof": 0.2}, SETTINGS, single_frame=False)
    assert doubtful.fired == () and doubtful.score <= middle
    clear = fuse({**moving, "antispoof": 0.9}, SETTINGS, single_frame=False)
    assert clear.score > SETTINGS.pass_threshold


def test_a_bent_print_has_too_little_relief_to_count_as_a_head() -> None:
    """Bent paper is not a plane (planarity above the planar point) but its residual stays
    small: no live evidence, still capped."""
    bent = {"antispoof": 0.95, "motion_px": 4.0, "planarity": 0.06, "parallax_px": 0.18}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    assert fuse(bent, SETTINGS, single_frame=False).score == pytest.approx(middle)


def test_a_fast_shaken_print_leaves_noise_not_relief() -> None:
    """A cut-out print moved 15 px in a frame leaves 0.3-0.5 px that no plane explains:
    tracking noise grows with the motion (blur, resampling), 2-4 % of it. That is above
    the absolute relief floor but no head's parallax; a head turning leaves 5 % and more."""
    shaken = {"antispoof": 0.95, "edges": 0.0, "motion_px": 15.0, "planarity": 0.03,
              "parallax_px": 0.45}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    assert fuse(shaken, SETTINGS, single_frame=False).score == pytest.approx(middle)
    assert why_not_live(shaken, SETTINGS, single_frame=False) == "motion too flat"
    turning = {**shaken, "planarity": SETTINGS.live_planarity_min + 0.01}
    assert fuse(turning, SETTINGS, single_frame=False).score > SETTINGS.pass_threshold


def test_a_residual_within_the_trackers_own_noise_is_no_relief() -> None:
    """A defocused, halftoned print tracks badly: 0.4 px unexplained at 8 % of its motion,
    but only 8 times the forward-backward disagreement of the same points. A head's parallax
    stands 25-140 times above it."""
    noisy = {"antispoof": 0.95, "edges": 0.0, "motion_px": 5.0, "planarity": 0.08,
             "parallax_px": 0.4, "parallax_snr": 8.0}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    assert fuse(noisy, SETTINGS, single_frame=False).score == pytest.approx(middle)
    assert why_not_live(noisy, SETTINGS, single_frame=False) == "too little relief"
    head = {**noisy, "parallax_snr": 50.0}
    assert fuse(head, SETTINGS, single_frame=False).score > SETTINGS.pass_threshold
    assert why_not_live(head, SETTINGS, single_frame=False) == ""


def test_motion_too_fast_to_track_proves_nothing() -> None:
    """A tablet swung 66 px between frames (half a face width): the tracker loses points,
    and what it leaves unexplained (6.8 px) is its own failure, not a head's relief. No
    student turning at the gate moves a fifth as fast as the limit."""
    swung = {"antispoof": 0.9, "edges": 0.0, "motion_px": 66.0, "planarity": 0.1,
             "parallax_px": 6.8, "parallax_snr": 20.3}
    middle = (SETTINGS.attack_threshold + SETTINGS.pass_threshold) / 2
    assert fuse(swung, SETTINGS, single_frame=False).score == pytest.approx(middle)
    assert why_not_live(swung, SETTINGS, single_frame=False) == "motion too fast"
    turning = {**swung, "motion_px": 12.0, "parallax_px": 1.2, "parallax_snr": 60.0}
    assert fuse(turning, SETTINGS, single_frame=False).score > SETTINGS.pass_threshold


def test_a_plane_moving_with_its_surround_is_a_confident_attack() -> None:
    base = {"antispoof": 0.95, "motion_px": 6.0, "planarity": 0.01, "parallax_px": 0.06}
    plane = fuse(base, SETTINGS, single_frame=False)
    assert plane.fired == ("planar_motion",)
    both = fuse({**base, "surround_coherence": 1.0}, SETTINGS, single_frame=False)
    assert both.fired == ("planar_motion", "surround_moves")
    assert both.score < SETTINGS.attack_threshold <= plane.score
    too_little = fuse({**base, "motion_px": 0.5, "surround_coherence": 1.0}, SETTINGS,
                      single_frame=False)
    assert too_little.fired == ()


def test_without_the_detector_a_single_frame_cannot_pass() -> None:
    fused = fuse({"edges": 0.0, "glare": 0.0, "moire": 0.0}, SETTINGS, single_frame=True)
    assert SETTINGS.attack_threshold <= fused.score < SETTINGS.pass_threshold


# --- settings ----------------------------------------------------------------------------


def test_settings_sit_in_vision_with_an_absolute_models_dir() -> None:
    assert VisionSettings().liveness == LivenessSettings()
    assert SETTINGS.models_dir.is_absolute()
    assert all(f.description for f in LivenessSettings.model_fields.values())


def test_settings_refuse_an_attack_threshold_above_pass_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="attack_threshold"):
        LivenessSettings(pass_threshold=0.3, attack_threshold=0.5)
    with pytest.raises(ValidationError):
        LivenessSettings(planar_fire_below=0.1, nonplanar_live_at=0.05)
    with pytest.raises(ValidationError):
        LivenessSettings(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        LivenessSettings(pass_threshold=1.5)


@pytest.mark.parametrize(("signals", "single", "why"), [
    ({"antispoof": 0.02}, True, "fired: antispoof"),
    ({"antispoof": 0.9}, True, "one frame only"),
    ({"antispoof": 0.9, "motion_px": 0.4, "planarity": 0.3, "parallax_px": 0.5}, False,
     "too little motion"),
    ({"antispoof": 0.2, "motion_px": 5.0, "planarity": 0.3, "parallax_px": 0.5}, False,
     "a signal near firing"),
    ({"antispoof": 0.9, "motion_px": 5.0, "planarity": 0.06, "parallax_px": 0.18}, False,
     "too little relief"),
    ({"antispoof": 0.9, "motion_px": 5.0, "planarity": 0.3, "parallax_px": 0.5}, False, ""),
])
def test_why_a_face_did_not_pass_is_named(signals: dict, single: bool, why: str) -> None:
    assert why_not_live(signals, SETTINGS, single_frame=single) == why


def test_the_second_look_is_offered_in_the_checks_own_words() -> None:
    from examgate.core.policy import SECOND_LOOK_WHY

    still = {"antispoof": 0.9, "motion_px": 0.2}
    flat = {"antispoof": 0.9, "motion_px": 5.0, "planarity": 0.06, "parallax_px": 0.18}
    for signals in (still, flat):
        assert why_not_live(signals, SETTINGS, single_frame=False) in SECOND_LOOK_WHY
    assert why_not_live(still, SETTINGS, single_frame=True) not in SECOND_LOOK_WHY
