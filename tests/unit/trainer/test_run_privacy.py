"""A retrain run keeps no copy of feedback students outside the training bucket (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.run_privacy import manifest_summary, purge_feedback_copies, split_identities

MANIFEST = {
    "schema": "examgate-training-manifest/1", "dataset": "feedback", "version": 3,
    "created_at": "2026-12-01T10:00:00+00:00",
    "counts": {"samples": 3, "by_identity": {"s-123456": 2, "s-654321": 1},
               "by_label": {"s-123456": 2, "impostor": 1}, "by_verdict": {"SAME_PERSON": 2}},
    "samples": [{"key": "samples/e1.jpg", "identity": "s-123456", "object_key": "feedback/v3/e1"},
                {"key": "samples/e2.jpg", "identity": "s-123456", "object_key": "feedback/v3/e2"},
                {"key": "samples/e3.jpg", "identity": "s-654321", "object_key": "feedback/v3/e3"}],
}


def test_the_tracker_gets_counts_and_a_digest_but_no_student() -> None:
    summary = manifest_summary(MANIFEST)
    text = json.dumps(summary)
    assert "s-123456" not in text and "s-654321" not in text and "samples/e1" not in text
    assert (summary["samples"], summary["identities"], summary["version"]) == (3, 2, 3)
    assert summary["counts"]["by_verdict"] == {"SAME_PERSON": 2}
    assert len(summary["manifest_sha256"]) == 64


def test_only_public_identities_are_listed() -> None:
    shown, students = split_identities(["Ann_Smith", "s-1", "Bob_Jones", "s-2", "s-1"],
                                       public={"Ann_Smith", "Bob_Jones", "Carl"})
    assert shown == ("Ann_Smith", "Bob_Jones") and students == 2


def _run_dir(tmp_path: Path, identities: list[str]) -> Path:
    run = tmp_path / "run"
    (run / "feedback" / "v3" / "samples").mkdir(parents=True)
    (run / "feedback" / "v3" / "samples" / "e1.jpg").write_bytes(b"a face")
    (run / "split.json").write_text(json.dumps({"dataset": "lfw+feedback",
                                                "identities": identities}))
    (run / "checkpoint.pt").write_bytes(b"weights and a head")
    (run / "model.onnx").write_bytes(b"onnx")
    (run / "train_faces.npz").write_bytes(b"aligned crops and their ids")  # a failed run's
    return run


def test_the_run_folder_drops_frames_ids_and_the_checkpoint(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, ["Ann_Smith", "s-123456"])
    gone = purge_feedback_copies(run, {"Ann_Smith"}, checkpoint="checkpoint.pt",
                                 split="split.json")
    assert not (run / "feedback").exists() and not (run / "checkpoint.pt").exists()
    split = json.loads((run / "split.json").read_text())
    assert split["identities"] == ["Ann_Smith"] and split["feedback_identities"] == 1
    assert (run / "model.onnx").is_file()  # what is registered stays
    assert not (run / "train_faces.npz").exists()
    assert gone == ["train_faces.npz", "feedback/", "split.json: 1 student id(s)",
                    "checkpoint.pt"]


def test_a_run_without_feedback_keeps_its_checkpoint(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, ["Ann_Smith", "Bob_Jones"])
    purge_feedback_copies(run, {"Ann_Smith", "Bob_Jones"}, checkpoint="checkpoint.pt",
                          split="split.json")
    assert (run / "checkpoint.pt").is_file()
    assert json.loads((run / "split.json").read_text())["identities"] == ["Ann_Smith",
                                                                          "Bob_Jones"]
