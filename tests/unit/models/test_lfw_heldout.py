"""The held-out FAR report: served (worst-slice) thresholds against one overall threshold."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lfw_heldout import heldout_report


def _faces(rng: np.random.Generator, prefix: str, n_f: int, n_m: int
           ) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Two images per person; women share a direction, so their impostors score higher."""
    shared = np.linspace(-1.0, 1.0, 16)
    names, rows, genders = [], [], {}
    for i in range(n_f + n_m):
        centre = rng.normal(size=16) + (1.5 if i < n_f else 0.9) * shared
        for k in (1, 2):
            name = f"{prefix}{i}/{prefix}{i}_{k:04d}.jpg"
            names.append(name)
            rows.append(centre + 0.5 * rng.normal(size=16))
            genders[name] = "female" if i < n_f else "male"
    emb = np.asarray(rows)
    return names, emb / np.linalg.norm(emb, axis=1, keepdims=True), genders


def test_the_served_rule_keeps_womens_far_near_the_promise_where_one_threshold_does_not():
    rng = np.random.default_rng(11)
    cal, cal_emb, g1 = _faces(rng, "C", 260, 260)  # >= 1e5 impostor pairs per gender
    held, held_emb, g2 = _faces(rng, "H", 260, 260)
    report = heldout_report(cal, cal_emb, held, held_emb, {**g1, **g2})
    served, raw = report["heldout"], report["heldout_raw"]
    assert served["thresholds"]["accept"] > raw["thresholds"]["accept"]
    assert raw["far_at_accept_by_gender"]["female"] > served["far_at_accept_by_gender"]["female"]
    assert served["far_at_accept"] <= raw["far_at_accept"]
    assert served["identities"] == 520 and served["images"] == 1040
    assert served["impostor_pairs"] == 1040 * 1039 // 2 - 520
    assert served["frr"] == 1 - served["tar_at_accept"]
    by = raw["far_at_accept_by_gender"]
    assert raw["far_ratio_female_male"] == by["female"] / by["male"] > 1


def test_held_out_people_must_not_be_in_the_calibration_split():
    rng = np.random.default_rng(12)
    cal, cal_emb, genders = _faces(rng, "C", 5, 5)
    with pytest.raises(ValueError, match="in the calibration split"):
        heldout_report(cal, cal_emb, cal[:4], cal_emb[:4], genders)


def test_with_templates_both_sets_are_scored_template_against_probe():
    rng = np.random.default_rng(13)
    cal, cal_emb, g1 = _faces(rng, "C", 40, 40)
    held, held_emb, g2 = _faces(rng, "H", 40, 40)
    twin = heldout_report(cal, cal_emb, held, held_emb, {**g1, **g2}, cal_emb, held_emb)
    plain = heldout_report(cal, cal_emb, held, held_emb, {**g1, **g2})
    # The photos' own embeddings as templates: every pair counted both ways, same rates.
    assert twin["heldout"]["impostor_pairs"] == 2 * plain["heldout"]["impostor_pairs"]
    assert twin["heldout"]["far_at_accept"] == pytest.approx(plain["heldout"]["far_at_accept"])
    with pytest.raises(ValueError, match="templates for one set only"):
        heldout_report(cal, cal_emb, held, held_emb, {**g1, **g2}, cal_emb, None)
