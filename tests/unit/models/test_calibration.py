"""Threshold calibration on hand-made scores, and the one calibration rule on embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from examgate.core.policy import Thresholds
from examgate.models.calibration import (
    ACCEPT_FAR,
    REJECT_FAR,
    accuracy_at,
    best_accuracy_threshold,
    calibrate_thresholds,
    operating_point,
    pair_scores,
    rates_at,
    roc_curve,
    tar_at_far,
    threshold_at_far,
)

IMPOSTOR = np.arange(1000) / 1000.0  # 0.000 .. 0.999
GENUINE = np.array([0.5, 0.9, 0.995, 0.9985, 0.9995, 1.0])


def test_threshold_at_far_allows_exactly_the_target_count():
    thr = threshold_at_far(IMPOSTOR, 1e-2)  # 10 impostors of 1000 may pass
    assert np.count_nonzero(IMPOSTOR >= thr) == 10
    assert 0.989 < thr <= 0.990 + 1e-12
    thr3 = threshold_at_far(IMPOSTOR, 1e-3)  # one may pass
    assert np.count_nonzero(IMPOSTOR >= thr3) == 1


def test_far_below_one_impostor_rejects_them_all():
    thr = threshold_at_far(IMPOSTOR, 1e-4)
    assert thr > IMPOSTOR.max()
    assert np.count_nonzero(IMPOSTOR >= thr) == 0
    assert not operating_point(GENUINE, IMPOSTOR, 1e-4).resolvable
    assert operating_point(GENUINE, IMPOSTOR, 1e-3).resolvable


def test_ties_at_the_boundary_are_all_rejected():
    imp = np.array([0.1, 0.2, 0.8, 0.8, 0.8, 0.9])
    thr = threshold_at_far(imp, 2 / 6)  # two may pass, but three tie at 0.8
    assert np.count_nonzero(imp >= thr) == 1


def test_tar_at_far_counts_genuine_at_or_above_threshold():
    point = operating_point(GENUINE, IMPOSTOR, 1e-3)
    assert point.far == pytest.approx(1e-3)
    # One impostor (0.999) may pass, so 0.998 must not: accepted are 0.9985, 0.9995, 1.0.
    assert 0.998 < point.threshold <= 0.999
    assert point.tar == pytest.approx(3 / 6)
    assert tar_at_far(GENUINE, IMPOSTOR, 1e-3) == point.tar
    assert rates_at(GENUINE, IMPOSTOR, point.threshold) == (point.tar, point.far)


def test_perfect_separation():
    point = operating_point([0.9, 0.95], [0.1, 0.2, 0.3], 0.0)
    assert point.tar == 1.0 and point.far == 0.0


def test_roc_curve_is_monotone_and_spans_zero_to_one():
    rng = np.random.default_rng(0)
    gen, imp = rng.normal(0.7, 0.1, 500), rng.normal(0.1, 0.1, 5000)
    for max_points in (None, 200):
        far, tar, thr = roc_curve(gen, imp, max_points=max_points)
        assert far[0] == 0 and tar[0] == 0 and far[-1] == 1 and tar[-1] == 1
        assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
        assert np.all(np.diff(thr) < 0)


def test_best_accuracy_threshold_separates_hand_made_scores():
    thr, acc = best_accuracy_threshold([0.6, 0.7, 0.8, 0.35], [0.1, 0.2, 0.3, 0.4])
    assert acc == pytest.approx(7 / 8)
    assert accuracy_at([0.6, 0.7, 0.8, 0.35], [0.1, 0.2, 0.3, 0.4], thr) == pytest.approx(7 / 8)
    thr, acc = best_accuracy_threshold([0.6, 0.7], [0.1, 0.2])
    assert acc == 1.0 and 0.2 < thr <= 0.6


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        threshold_at_far([], 1e-3)
    with pytest.raises(ValueError):
        threshold_at_far([0.1, np.nan], 1e-3)
    with pytest.raises(ValueError):
        threshold_at_far([0.1], 2.0)


def _unit(rows: list[list[float]]) -> np.ndarray:
    emb = np.asarray(rows, dtype=np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_pair_scores_split_every_pair_by_identity():
    emb = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1]])
    genuine, impostor = pair_scores(["a", "a", "b", "b", "c"], emb)
    assert len(genuine) == 2 and len(impostor) == 10 - 2  # 5 images: 10 unordered pairs
    assert np.allclose(sorted(genuine), sorted([emb[0] @ emb[1], emb[2] @ emb[3]]))
    assert np.isclose(impostor.max(), max(emb[i] @ emb[4] for i in range(4)))
    with pytest.raises(ValueError, match="identities"):
        pair_scores(["a", "b"], emb)


def test_with_templates_each_image_is_enrolled_once_and_presented_against_every_other():
    emb = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1]])
    templates = _unit([[1, 0.05], [1, 0.05], [0.05, 1], [0.05, 1], [1, 0.9]])
    genuine, impostor = pair_scores(["a", "a", "b", "b", "c"], emb, templates)
    assert len(genuine) == 4 and len(impostor) == 20 - 4  # 5 images: 20 ordered pairs
    # Not symmetric: a's template against b's photo is not b's template against a's photo.
    assert np.isclose(genuine[0], templates[0] @ emb[1])
    assert np.isclose(genuine[1], templates[1] @ emb[0])
    assert not np.isclose(templates[0] @ emb[4], templates[4] @ emb[0])
    # Templates that are the photos' own embeddings give each unordered pair twice.
    same_g, same_i = pair_scores(["a", "a", "b", "b", "c"], emb, emb)
    plain_g, plain_i = pair_scores(["a", "a", "b", "b", "c"], emb)
    assert np.allclose(np.sort(same_g), np.sort(np.repeat(plain_g, 2)))
    assert np.allclose(np.sort(same_i), np.sort(np.repeat(plain_i, 2)))
    with pytest.raises(ValueError, match="templates"):
        pair_scores(["a", "a", "b", "b", "c"], emb, templates[:4])


def test_thresholds_calibrated_on_templates_hold_for_template_scores():
    rng = np.random.default_rng(5)
    people = np.repeat([f"p{i}" for i in range(60)], 3)
    emb = _unit(np.repeat(rng.normal(size=(60, 16)), 3, axis=0) + 0.6 * rng.normal(size=(180, 16)))
    # A template nearer its person's centre scores genuine probes higher than a photo does.
    templates = _unit(emb + 0.5 * np.repeat(emb.reshape(60, 3, 16).mean(1), 3, axis=0))
    fit = calibrate_thresholds(people, emb, accept_far=1e-3, templates=templates)
    genuine, impostor = pair_scores(people, emb, templates)
    assert fit.accept.n_impostor == impostor.size == 180 * 179 - 60 * 6
    tar, far = rates_at(genuine, impostor, fit.thresholds.accept)
    assert far <= 1e-3 and tar == pytest.approx(fit.accept.tar)


def test_calibrate_thresholds_reads_both_operating_points_from_all_pairs():
    rng = np.random.default_rng(3)
    people = np.repeat([f"p{i}" for i in range(60)], 3)
    centres = rng.normal(size=(60, 16))
    emb = np.repeat(centres, 3, axis=0) + 0.6 * rng.normal(size=(180, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    genuine, impostor = pair_scores(people, emb)

    fit = calibrate_thresholds(people, emb, replay=0.95)

    assert fit.accept == operating_point(genuine, impostor, ACCEPT_FAR)
    assert fit.reject == operating_point(genuine, impostor, REJECT_FAR)
    t = fit.thresholds
    assert (t.accept, t.reject) == (fit.accept.threshold, fit.reject.threshold)
    assert t.reject <= t.accept and (t.accept_far, t.reject_far) == (ACCEPT_FAR, REJECT_FAR)
    assert t.replay == 0.95
    assert calibrate_thresholds(people, emb).thresholds.replay == Thresholds(0.5, 0.4).replay
    assert fit.metrics == {"calib_tar_at_far_1e-4": fit.accept.tar,
                           "calib_tar_at_far_1e-3": fit.reject.tar,
                           "calib_genuine_pairs": float(len(genuine)),
                           "calib_impostor_pairs": float(len(impostor))}
    # Other targets name their metrics after themselves.
    other = calibrate_thresholds(people, emb, accept_far=1e-3, reject_far=1e-2).metrics
    assert {"calib_tar_at_far_1e-3", "calib_tar_at_far_1e-2"} <= set(other)


def _two_groups(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group "f" shares a common direction (its impostors score higher), group "m" does not."""
    n_f, n_m, per = 100, 140, 2
    shared = rng.normal(size=16)
    centres = rng.normal(size=(n_f + n_m, 16))
    centres[:n_f] += 1.5 * shared
    emb = np.repeat(centres, per, axis=0) + 0.5 * rng.normal(size=((n_f + n_m) * per, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    people = np.repeat([f"p{i}" for i in range(n_f + n_m)], per)
    groups = np.repeat(["f"] * n_f + ["m"] * n_m, per)
    return people, emb, groups


def test_slices_raise_the_accept_threshold_to_the_worst_group_and_say_so():
    people, emb, groups = _two_groups(np.random.default_rng(5))
    plain = calibrate_thresholds(people, emb, accept_far=1e-3)
    fit = calibrate_thresholds(people, emb, accept_far=1e-3, slices=groups)

    own = {g: operating_point(*pair_scores(people[groups == g], emb[groups == g]), 1e-3)
           for g in ("f", "m")}
    assert own["f"].threshold > plain.thresholds.accept  # the crowded group needs more
    assert fit.thresholds.accept == max(plain.thresholds.accept, own["f"].threshold,
                                        own["m"].threshold)
    assert fit.thresholds.reject <= fit.thresholds.accept
    for g in ("f", "m"):  # every group's FAR holds at the served threshold
        assert fit.slices[g].far_at_served <= 1e-3
    _, f_imp = pair_scores(people[groups == "f"], emb[groups == "f"])
    assert np.mean(f_imp >= plain.thresholds.accept) > 1e-3  # ...and did not before
    assert fit.accept.threshold == fit.thresholds.accept and fit.accept.far <= plain.accept.far
    assert fit.metrics["calib_slice_f_accept_threshold"] == own["f"].threshold
    assert fit.spec()["slices"]["f"]["impostor_pairs"] == own["f"].n_impostor


def test_a_slice_too_small_to_measure_is_skipped_and_recorded():
    people, emb, groups = _two_groups(np.random.default_rng(6))
    groups = groups.astype("<U8")
    groups[:6] = "tiny"  # 3 people: 12 impostor pairs cannot measure a FAR of 1e-4
    groups[6:] = ""
    fit = calibrate_thresholds(people, emb, slices=groups)
    assert fit.slices == {} and fit.skipped_slices == {"tiny": 12}
    assert fit.thresholds.accept == calibrate_thresholds(people, emb).thresholds.accept
    with pytest.raises(ValueError, match="slice labels"):
        calibrate_thresholds(people, emb, slices=groups[:-1])
