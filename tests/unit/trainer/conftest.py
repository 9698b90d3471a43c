"""Fixtures for the trainer's tests: the converted SFace (built once), a tiny fake LFW tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.config.base import TrainConfig

LFW_DIR = TrainConfig.lfw_dir


@pytest.fixture(scope="session")
def sface_path() -> Path:
    from examgate.vision.errors import ModelFileError
    from examgate.vision.model_files import locate_model

    try:
        return locate_model("sface").path
    except ModelFileError as exc:
        pytest.skip(f"bundled SFace not installed: {exc}")


@pytest.fixture(scope="session")
def sface_backbone(sface_path: Path):
    """The champion SFace as a PyTorch module, eval mode (treat as read-only)."""
    pytest.importorskip("onnx2torch")
    from trainer.model import build_backbone

    return build_backbone("sface", sface_path).eval()


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    if not (LFW_DIR / "images").is_dir():
        pytest.skip(f"LFW not found at {LFW_DIR}")
    return LFW_DIR


@pytest.fixture(scope="session")
def lfw_faces(lfw_dir: Path) -> np.ndarray:
    """Four aligned BGR LFW faces, detected with the serving detector."""
    from examgate.vision import align_face, create_detector, decode_image

    detector = create_detector("yunet")
    faces = []
    for name, n in [("Aaron_Peirsol", 1), ("Aaron_Peirsol", 2), ("Serena_Williams", 1),
                    ("Colin_Powell", 1)]:
        image = decode_image((lfw_dir / "images" / name / f"{name}_{n:04d}.jpg").read_bytes())
        faces.append(align_face(image, detector.detect(image)[0]))
    return np.stack(faces)


PEOPLE = {"Cal": 3, "Dan": 3, "Eva": 3, "Fred": 3, "Gus": 3, "Hal": 3, "Ivy": 3, "Jon": 4,
          "Kim": 1}


@pytest.fixture
def fake_lfw(tmp_path: Path) -> Path:
    """An LFW-shaped folder: calibration {Cal, Dan}; View 2 fold 0 {Eva, Fred}, fold 1 {Gus, Hal}.

    Images are blank 8x8 JPEG files; only names matter to the split code.
    """
    import cv2

    blank = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    for person, count in PEOPLE.items():
        folder = tmp_path / "images" / person
        folder.mkdir(parents=True)
        for i in range(1, count + 1):
            (folder / f"{person}_{i:04d}.jpg").write_bytes(blank)
    (tmp_path / "pairsDevTrain.txt").write_text("1\nCal\t1\t2\nCal\t1\tDan\t1\n")
    (tmp_path / "pairs.txt").write_text(
        "2\t1\nEva\t1\t2\nEva\t1\tFred\t1\nGus\t1\t2\nGus\t1\tHal\t2\n")
    return tmp_path
