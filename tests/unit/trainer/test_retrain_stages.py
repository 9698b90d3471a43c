"""The retrain loop's small pure pieces: the request, the calibration subset, the new spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from examgate.adapters.registry import ModelBundle
from examgate.core.policy import Thresholds
from trainer.calibrate import whole_people
from trainer.gates import GateReport, GateResult, GateSettings
from trainer.loop import RetrainRequest
from trainer.register import Challenger, challenger_spec


def test_a_request_is_frozen_and_keeps_tuples():
    request = RetrainRequest("smoke", steps=2, overrides=["batch_size=8"],  # type: ignore[arg-type]
                             targets=["mask"])  # type: ignore[arg-type]
    assert request.overrides == ("batch_size=8",) and request.targets == ("mask",)
    assert RetrainRequest().targets is None and RetrainRequest().gates == GateSettings()
    assert RetrainRequest().alias == "challenger" and not RetrainRequest().dry_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.steps = 3  # type: ignore[misc]


def test_whole_people_keeps_every_image_of_the_people_it_takes():
    names = [f"{p}/{p}_{i:04d}.jpg" for p in ("Ann", "Bob", "Cid", "Dee") for i in (1, 2, 3)]
    chosen = whole_people(names, 6)
    people = {n.split("/")[0] for n in chosen}
    assert len(chosen) == 6 and chosen == sorted(chosen)
    assert all(sum(n.startswith(f"{p}/") for n in chosen) == 3 for p in people)


def test_the_challenger_spec_keeps_the_champions_and_adds_provenance():
    champion = ModelBundle(
        "face", "1", "yunet", "sface", {"detector": Path("d"), "embedder": Path("e")},
        Thresholds(0.5, 0.4),
        {"detector": "yunet", "embedder": "sface", "files": {}, "thresholds": {},
         "flip_tta": False, "calibration": {"split": "pairsDevTrain.txt"}})
    report = GateReport((GateResult("accuracy", "pass", "fine"),))
    challenger = Challenger(Path("model.onnx"), Thresholds(0.6, 0.45),
                            {"run_id": "r1", "parent_version": "1"}, report, {"accuracy": 0.99})
    spec = challenger_spec(champion, challenger)
    assert spec["flip_tta"] is False and spec["calibration"] == {"split": "pairsDevTrain.txt"}
    assert not {"detector", "embedder", "files", "thresholds"} & set(spec)
    assert spec["training"] == {"run_id": "r1", "parent_version": "1"}
    assert spec["gates"] == [r.__dict__ for r in report.results]
