"""The whole pipeline on bytes, the embed command and the LFW benchmark's pure parts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from examgate.core.settings import VisionSettings, load_settings
from examgate.vision import STAGES, FacePipeline, ImageDecodeError, QualityReason
from examgate.vision.cli import embed, embed_app


@pytest.fixture(scope="module")
def pipeline(yunet, sface) -> FacePipeline:
    return FacePipeline(yunet, sface, VisionSettings().quality)


def test_from_settings_builds_the_defaults():
    pipe = FacePipeline.from_settings(VisionSettings())
    assert pipe.detector.name == "yunet_onet" and pipe.embedder.name == "sface"


def test_blank_image_is_no_face_not_an_error(pipeline):
    data = cv2.imencode(".png", np.full((200, 200, 3), 200, np.uint8))[1].tobytes()
    result = pipeline.run(data)
    assert not result.ok and result.verdict.reason == QualityReason.NO_FACE
    assert result.embedding is None and result.face_count == 0


def test_decode_errors_propagate_typed(pipeline):
    with pytest.raises(ImageDecodeError) as info:
        pipeline.run(b"\x89PNG\r\n\x1a\n garbage")
    assert info.value.reason in {"CORRUPT", "TRUNCATED"}


@pytest.mark.lfw
def test_lfw_face_end_to_end(pipeline, lfw_bytes):
    result = pipeline.run(lfw_bytes("Serena_Williams"))
    assert result.ok, result.verdict
    assert result.embedding.shape == (128,) and result.aligned.shape == (112, 112, 3)
    assert set(result.timings_ms) == set(STAGES)
    same = pipeline.run(lfw_bytes("Serena_Williams", 2)).embedding
    assert float(result.embedding @ same) > 0.4


@pytest.mark.lfw
def test_gray_and_rgba_inputs_still_embed(pipeline, lfw_image):
    image = lfw_image("Serena_Williams")
    gray = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))[1].tobytes()
    rgba = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))[1].tobytes()
    assert pipeline.run(gray).embedding is not None
    assert pipeline.run(rgba).ok


@pytest.mark.lfw
def test_embed_command_writes_embeddings_and_reasons(tmp_path, lfw_dir):
    good = lfw_dir / "images" / "Serena_Williams" / "Serena_Williams_0001.jpg"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((100, 100, 3), 255, np.uint8))
    out = tmp_path / "e.npz"
    main = typer.Typer()
    main.command("embed")(embed)  # how the main CLI mounts it
    main.command("other")(lambda: None)
    res = CliRunner().invoke(main, ["embed", str(good), str(junk), str(empty), str(blank),
                                    str(tmp_path / "missing.jpg"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    z = np.load(out)
    assert list(z["ok"]) == [True, False, False, False, False]
    assert list(z["reasons"]) [1:4] == ["NOT_AN_IMAGE", "EMPTY", "NO_FACE"]
    assert z["reasons"][4].startswith("UNREADABLE")
    assert np.isnan(z["embeddings"][1:]).all()
    assert abs(np.linalg.norm(z["embeddings"][0]) - 1) < 1e-5
    assert embed_app.registered_commands[0].name == "embed"


def test_lfw_pairs_parsing_and_kfold(tmp_path: Path):
    from benchmarks.lfw_metrics import kfold_accuracy
    from examgate.models.lfw import read_pairs

    (tmp_path / "pairs.txt").write_text(
        "2\t1\nA\t1\t2\nA\t1\tB\t1\nB\t1\t2\nA\t2\tB\t2\n")
    pairs = read_pairs(tmp_path / "pairs.txt")
    assert [(p.a, p.same, p.fold) for p in pairs] == [
        ("A/A_0001.jpg", True, 0), ("A/A_0001.jpg", False, 0),
        ("B/B_0001.jpg", True, 1), ("A/A_0002.jpg", False, 1)]
    assert pairs[1].b == "B/B_0001.jpg"
    result = kfold_accuracy(pairs, np.array([0.9, 0.1, 0.8, 0.2]))
    assert result["accuracy"] == 1.0


def test_missing_lfw_says_where_to_get_it(tmp_path: Path):
    from examgate.models.lfw import LfwMissingError, require_lfw

    with pytest.raises(LfwMissingError, match="vis-www.cs.umass.edu"):
        require_lfw(tmp_path / "lfw")


@pytest.mark.lfw
def test_lfw_benchmark_runs_on_a_tiny_subset(tmp_path: Path, lfw_dir: Path):
    from benchmarks.lfw import run_lfw_benchmark

    people = {"Serena_Williams": 2, "Colin_Powell": 2, "Aaron_Peirsol": 2, "Ai_Sugiyama": 2}
    for person in people:
        (tmp_path / "images" / person).mkdir(parents=True)
        for n in (1, 2):
            name = f"{person}_{n:04d}.jpg"
            (tmp_path / "images" / person / name).symlink_to(
                lfw_dir / "images" / person / name)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "female_names.txt").write_text(
        "Serena_Williams_0001.jpg\nSerena_Williams_0002.jpg\n")
    (tmp_path / "labels" / "male_names.txt").write_text(
        "\n".join(f"{p}_{n:04d}.jpg" for p in ("Colin_Powell", "Aaron_Peirsol") for n in (1, 2)))
    (tmp_path / "pairs.txt").write_text(
        "2\t1\nSerena_Williams\t1\t2\nSerena_Williams\t1\tColin_Powell\t1\n"
        "Colin_Powell\t1\t2\nAaron_Peirsol\t1\tColin_Powell\t2\n")
    # The calibration split (View 1 format): Aaron Peirsol and Ai Sugiyama; the others
    # (Serena Williams, Colin Powell) are held out.
    (tmp_path / "pairsDevTrain.txt").write_text("Aaron_Peirsol\t1\t2\nAi_Sugiyama\t1\t2\n"
                                                "Aaron_Peirsol\t1\tAi_Sugiyama\t1\n")
    curves: dict = {}
    result = run_lfw_benchmark(tmp_path, folds=2, throughput_images=0, show_progress=False,
                               curves_out=curves, onet_path=load_settings(None).vision.onet_path)
    json.dumps(result)  # JSON-ready
    assert set(curves) == {"all", "male"}
    assert result["accuracy"] == 1.0 and result["no_face"] == 0
    assert result["n_images"] == 5 and set(result["tar_at_far"]) == {"1e-3", "1e-4"}
    assert set(result["far_by_gender"]) == {"male"}  # one woman: no female impostor pair
    assert result["ms_per_image_p50"] > 0
    assert result["detector"] == "yunet_onet"  # the served default
    held = result["heldout"]
    assert (held["identities"], held["images"]) == (2, 4)
    assert held["genuine_pairs"] == 2 and held["impostor_pairs"] == 4
    assert held["far_at_accept_by_gender"] == {}  # one person of each: no same-gender impostor
    assert result["heldout_raw"]["thresholds"]["accept"] <= held["thresholds"]["accept"]
    # As the gate scores with mirrored templates: each pair both ways round.
    mirrored = run_lfw_benchmark(tmp_path, folds=2, throughput_images=0, show_progress=False,
                                 onet_path=load_settings(None).vision.onet_path,
                                 mirror_templates=True)
    assert mirrored["mirror_templates"] and mirrored["n_genuine"] == 2 * result["n_genuine"]
    assert mirrored["n_impostor"] == 2 * result["n_impostor"]
    assert mirrored["heldout"]["impostor_pairs"] == 2 * held["impostor_pairs"]
