"""Shared fixtures: the bundled models (built once) and LFW images (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from examgate.core.settings import DataSettings
from examgate.vision.detectors import Detector, create_detector
from examgate.vision.embedders import Embedder, create_embedder

LFW_DIR = DataSettings().lfw_dir


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    if not (LFW_DIR / "images").is_dir():
        pytest.skip(f"LFW not found at {LFW_DIR}")
    return LFW_DIR


@pytest.fixture(scope="session")
def lfw_image(lfw_dir: Path):
    """Factory: BGR array of ``Name``'s image ``number``."""

    def load(name: str, number: int = 1) -> np.ndarray:
        path = lfw_dir / "images" / name / f"{name}_{number:04d}.jpg"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, path
        return image

    return load


@pytest.fixture(scope="session")
def lfw_bytes(lfw_dir: Path):
    """Factory: encoded bytes of ``Name``'s image ``number``."""

    def load(name: str, number: int = 1) -> bytes:
        return (lfw_dir / "images" / name / f"{name}_{number:04d}.jpg").read_bytes()

    return load


@pytest.fixture(scope="session")
def yunet() -> Detector:
    return create_detector("yunet")


@pytest.fixture(scope="session")
def sface() -> Embedder:
    return create_embedder("sface")
