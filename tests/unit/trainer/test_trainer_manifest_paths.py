"""A feedback manifest cannot write outside its folder (review finding 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from examgate.adapters.objectstore import MemoryObjectStore
from trainer.trainset import write_samples


@pytest.mark.parametrize("key", ["../../escape.jpg", "/etc/escape.jpg", "a/../../escape.jpg"])
def test_a_key_that_leaves_the_folder_is_refused(tmp_path: Path, key: str) -> None:
    objects = MemoryObjectStore()
    objects.put("training", "feedback/v1/samples/x.jpg", b"jpeg")
    manifest = {"samples": [{"key": key, "object_key": "feedback/v1/samples/x.jpg",
                             "identity": "s-1"}]}
    folder = tmp_path / "run" / "feedback" / "v1"
    with pytest.raises(ValueError, match="leaves the folder"):
        write_samples(objects, "training", manifest, folder)
    assert not (tmp_path / "escape.jpg").exists() and not list(tmp_path.rglob("escape.jpg"))


def test_samples_land_inside_the_folder(tmp_path: Path) -> None:
    objects = MemoryObjectStore()
    objects.put("training", "feedback/v1/samples/x.jpg", b"jpeg")
    manifest = {"samples": [{"key": "samples/x.jpg", "object_key": "feedback/v1/samples/x.jpg",
                             "identity": "s-1"}]}
    write_samples(objects, "training", manifest, tmp_path / "v1")
    assert (tmp_path / "v1" / "samples" / "x.jpg").read_bytes() == b"jpeg"
