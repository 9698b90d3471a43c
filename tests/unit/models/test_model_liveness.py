"""A model version names its liveness models and thresholds; ``examgate analyse`` reports them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from examgate.adapters.registry import ModelBundle
from examgate.augment import render_burst
from examgate.cli import app
from examgate.core.digest import sha256_file
from examgate.core.policy import Thresholds
from examgate.core.settings import Settings
from examgate.models.analyzer import liveness_from_bundle
from examgate.models.liveness_calibration import liveness_files

SETTINGS = Settings()
FILES = liveness_files(SETTINGS)
LFW = SETTINGS.data.lfw_dir / "images"
needs_models = pytest.mark.skipif(not all(p.is_file() for p in FILES.values()),
                                  reason="anti-spoofing models not in ../shared/models")


def _bundle(liveness: object, files: dict[str, Path] | None = None) -> ModelBundle:
    files = FILES if files is None else files
    spec = {"files": {role: {"sha256": sha256_file(p)} for role, p in files.items()}}
    if liveness is not None:
        spec["liveness"] = liveness
    return ModelBundle("m", "7", "yunet", "sface", dict(files), Thresholds(0.4, 0.3, 0.97), spec)


@needs_models
def test_a_version_with_liveness_names_its_files_and_thresholds() -> None:
    checker, model = liveness_from_bundle(
        _bundle({"pass_threshold": 0.45, "attack_threshold": 0.05}), SETTINGS)
    assert checker is not None and model is not None
    assert (model.pass_threshold, model.attack_threshold) == (0.45, 0.05)
    assert "antispoof_v2:" in model.models and "antispoof_v1se:" in model.models


@needs_models
@pytest.mark.parametrize("liveness", [
    None,  # registered before liveness existed
    {"pass_threshold": 0.2, "attack_threshold": 0.5},  # attack above pass
    {"pass_threshold": float("nan"), "attack_threshold": 0.1},
    {"pass_threshold": 1.5, "attack_threshold": 0.1},
    {"attack_threshold": 0.1},
])
def test_a_version_without_valid_liveness_gets_no_checker(liveness: object) -> None:
    assert liveness_from_bundle(_bundle(liveness), SETTINGS) == (None, None)


@needs_models
def test_a_version_missing_one_liveness_file_gets_no_checker() -> None:
    one = dict(list(FILES.items())[:1])
    assert liveness_from_bundle(
        _bundle({"pass_threshold": 0.45, "attack_threshold": 0.05}, one), SETTINGS) == (None, None)


@needs_models
@pytest.mark.skipif(not LFW.is_dir(), reason="LFW not found")
def test_analyse_reports_faces_quality_and_liveness_per_burst(tmp_path: Path) -> None:
    photo = cv2.imread(str(LFW / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"))
    rng = np.random.default_rng(3)
    for name in ("bona_fide", "phone_replay"):
        folder = tmp_path / name
        folder.mkdir()
        for k, frame in enumerate(render_burst(name, photo, rng, frames=5)):
            cv2.imwrite(str(folder / f"{k:02d}.jpg"), frame)
    single = tmp_path / "single.jpg"
    cv2.imwrite(str(single), render_burst("bona_fide", photo, rng, frames=1)[0])
    out = tmp_path / "findings.json"
    result = CliRunner().invoke(app, ["analyse", "--burst", str(tmp_path / "bona_fide"),
                                      str(tmp_path / "phone_replay"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    items = json.loads(out.read_text())["items"]
    assert [it["face_count"] for it in items] == [1, 1]
    assert all(it["embedded"] and it["liveness"]["frames"] == 5 for it in items)
    assert set(items[0]["liveness"]["signals"]) >= {"antispoof", "edges", "motion_px"}
    assert items[1]["liveness"]["verdict"] != "LIVE"
    assert items[1]["liveness"]["fired"]
    assert items[1]["liveness"]["why"].startswith("fired: ")  # the attack says what fired
    one = CliRunner().invoke(app, ["analyse", str(single), "--json", "-"])
    assert one.exit_code == 0, one.output
    found = json.loads(one.stdout[one.stdout.index("{"):])["items"][0]["liveness"]
    assert found["single_frame"] and found["verdict"] != "LIVE"  # not a single-frame gate


def test_analyse_refuses_a_file_as_a_burst(tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"not a folder")
    result = CliRunner().invoke(app, ["analyse", "--burst", str(f)])
    assert result.exit_code == 2
    assert "is not a folder of frames" in " ".join(result.output.replace("│", " ").split())


@needs_models
def test_a_version_scores_with_the_rules_it_was_calibrated_with() -> None:
    spec = {"pass_threshold": 0.45, "attack_threshold": 0.05,
            "fusion": {"parallax_live_px": 0.9, "motion_max_doubt": 0.3}}
    checker, _ = liveness_from_bundle(_bundle(spec), SETTINGS)
    assert checker is not None
    assert (checker.settings.parallax_live_px, checker.settings.motion_max_doubt) == (0.9, 0.3)
    for bad in ({"parallax_live_px": -1.0}, {"no_such_rule": 1}):
        assert liveness_from_bundle(_bundle({**spec, "fusion": bad}), SETTINGS) == (None, None)
