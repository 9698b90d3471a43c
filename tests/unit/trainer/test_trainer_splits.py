"""Training identities never meet calibration or evaluation identities."""

from __future__ import annotations

import json

import pytest

from trainer.splits import (
    SplitOverlapError,
    check_disjoint,
    evaluation_identities,
    evaluation_pairs,
    training_identities,
)


def test_check_disjoint_names_the_overlap():
    check_disjoint({"a", "b"}, {"calibration": {"c"}, "evaluation": {"d"}})
    with pytest.raises(SplitOverlapError, match=r"training and evaluation share 1 .*\(e\.g\. b\)"):
        check_disjoint({"a", "b"}, {"calibration": {"c"}, "evaluation": {"b", "z"}})


def test_default_training_split_leaves_out_held_out_people(fake_lfw):
    train = training_identities(fake_lfw, min_images=3, eval_folds=(0,))
    assert set(train) == {"Gus", "Hal", "Ivy", "Jon"}  # not Cal/Dan, Eva/Fred, nor Kim (1 image)
    assert len(train["Jon"]) == 4
    assert set(training_identities(fake_lfw, min_images=3, eval_folds=(0, 1))) == {"Ivy", "Jon"}


@pytest.mark.parametrize("who,split", [("Eva", "evaluation"), ("Dan", "calibration")])
def test_naming_a_held_out_person_for_training_raises(fake_lfw, who, split):
    with pytest.raises(SplitOverlapError, match=f"training and {split}"):
        training_identities(fake_lfw, min_images=1, eval_folds=(0,), identities=["Ivy", who])


def test_evaluation_refuses_training_identities(fake_lfw):
    assert evaluation_identities(fake_lfw, (1,)) == {"Gus", "Hal"}
    assert len(evaluation_pairs(fake_lfw, (0, 1), training=["Ivy"])) == 4
    with pytest.raises(SplitOverlapError):
        evaluation_pairs(fake_lfw, (0, 1), training=["Ivy", "Gus"])


def test_evaluation_drops_pairs_with_calibration_people(fake_lfw):
    (fake_lfw / "pairs.txt").write_text("1\t1\nEva\t1\t2\nEva\t1\tCal\t1\n")
    kept = evaluation_pairs(fake_lfw, (0,))
    assert [(p.a, p.b) for p in kept] == [("Eva/Eva_0001.jpg", "Eva/Eva_0002.jpg")]
    assert len(evaluation_pairs(fake_lfw, (0,), exclude_calibration=False)) == 2


def test_feedback_identities_must_not_be_evaluation_identities(fake_lfw, tmp_path):
    pytest.importorskip("torch")
    from trainer.data import MANIFEST_SCHEMA, feedback

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema": MANIFEST_SCHEMA, "samples": [
        {"key": "a.jpg", "identity": "Eva"}, {"key": "b.jpg", "identity": "s-1"}]}))
    with pytest.raises(SplitOverlapError, match="feedback and evaluation"):
        feedback(manifest, tmp_path,
                 held_out=evaluation_identities(fake_lfw, (0,)))


@pytest.mark.lfw
def test_real_lfw_training_split_is_disjoint_and_usable(lfw_dir):
    from examgate.models.bootstrap import calibration_identities

    train = training_identities(lfw_dir, min_images=3, eval_folds=(0, 1, 2, 3, 4))
    assert len(train) > 100
    assert not set(train) & calibration_identities(lfw_dir)
    assert not set(train) & evaluation_identities(lfw_dir, (0, 1, 2, 3, 4))
    assert all(len(images) >= 3 for images in train.values())
