"""Experiment configs: the file names the run, overrides are typed, unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import ConfigError, config_record, load_config


def test_experiment_file_names_the_run():
    cfg = load_config("smoke")
    assert cfg.name == "smoke" and cfg.dataset == "synthetic"
    assert cfg.run_dir.name == "smoke"


def test_overrides_are_parsed_to_field_types():
    cfg = load_config("smoke", ["steps=7", "compile=true", "lr=0.5", "eval_folds=1,3",
                                "backbone_onnx=/m.onnx", "crops_npz=none"])
    assert (cfg.steps, cfg.compile, cfg.lr, cfg.eval_folds) == (7, True, 0.5, (1, 3))
    assert cfg.backbone_onnx == Path("/m.onnx") and cfg.crops_npz is None
    record = config_record(cfg)
    assert record["backbone_onnx"] == "/m.onnx" and record["eval_folds"] == [1, 3]


@pytest.mark.parametrize("bad", [["nope=1"], ["steps"], ["steps=many"], ["amp=maybe"]])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ConfigError):
        load_config("smoke", bad)


def test_unknown_experiment_is_rejected():
    with pytest.raises(ConfigError, match="no experiment"):
        load_config("does_not_exist")
