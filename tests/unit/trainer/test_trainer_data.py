"""Training sets: synthetic, saved crops (raw and JPEG), feedback manifests, device batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer.data import (  # noqa: E402
    MANIFEST_SCHEMA,
    DeviceBatches,
    FaceSet,
    feedback,
    read_manifest,
    synthetic,
)


def test_synthetic_set_shapes():
    faces = synthetic(10, 4)
    assert faces.faces.shape == (10, 112, 112, 3) and faces.faces.dtype == np.uint8
    assert faces.num_classes == 4 and set(faces.labels) == {0, 1, 2, 3}


@pytest.mark.parametrize("quality", [None, 95])
def test_saved_set_round_trips(tmp_path, quality):
    faces = synthetic(6, 3)
    smooth = np.broadcast_to(np.linspace(0, 255, 112, dtype=np.uint8)[None, None, :, None],
                             faces.faces.shape).copy()  # JPEG-friendly content
    faces = FaceSet(smooth, faces.labels, faces.identities, "lfw")
    faces.save(tmp_path / "set.npz", jpeg_quality=quality, eval_folds=[0, 1])
    back, meta = FaceSet.load(tmp_path / "set.npz")
    assert meta == {"source": "lfw", "eval_folds": [0, 1]}
    assert back.identities == faces.identities and np.array_equal(back.labels, faces.labels)
    diff = np.abs(back.faces.astype(int) - faces.faces.astype(int)).max()
    assert diff == 0 if quality is None else diff < 8


def test_device_batches_shard_each_epoch_between_ranks():
    faces = synthetic(8, 2)
    draws = []
    for rank in (0, 1):
        batches = DeviceBatches(faces, 4, torch.device("cpu"), seed=3, rank=rank, world=2)
        x, y = next(batches)
        assert x.shape == (4, 112, 112, 3) and x.dtype == torch.uint8 and y.shape == (4,)
        draws.append({bytes(f.numpy()) for f in x})
    assert not draws[0] & draws[1]  # one epoch: the two ranks see different faces


def test_manifest_rejects_keys_that_leave_the_folder(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"schema": MANIFEST_SCHEMA,
                                "samples": [{"key": "../x.jpg", "identity": "s-1"}]}))
    with pytest.raises(ValueError, match="leaves the folder"):
        read_manifest(path)
    path.write_text(json.dumps({"samples": []}))
    with pytest.raises(ValueError, match="manifest"):
        read_manifest(path)


@pytest.mark.lfw
def test_feedback_manifest_is_aligned_and_never_cached(lfw_dir, tmp_path):
    samples = []
    for person, student in (("Aaron_Peirsol", "s-001"), ("Serena_Williams", "s-002")):
        for n in (1, 2):
            key = f"frames/{student}-{n}.jpg"
            (tmp_path / "frames").mkdir(exist_ok=True)
            (tmp_path / key).write_bytes(
                (lfw_dir / "images" / person / f"{person}_{n:04d}.jpg").read_bytes())
            samples.append({"key": key, "identity": student})
    samples.append({"key": "frames/gone.jpg", "identity": "s-003"})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema": MANIFEST_SCHEMA, "samples": samples}))
    faces = feedback(manifest, tmp_path)
    assert faces.identities == ("s-001", "s-002") and list(faces.labels) == [0, 0, 1, 1]
    assert faces.faces.shape == (4, 112, 112, 3)
    # Issue 12: students' aligned faces are not kept beside the LFW caches, where erasure of
    # the feedback dataset would not reach them.
    assert not list(tmp_path.rglob("*.npz"))
