"""Stand-ins shared by the matching tests: unit vectors as faces, templates of them, and an
analyzer that 'sees' a given embedding in each frame (live, one sharp face)."""

from __future__ import annotations

import numpy as np

from examgate.core import events
from examgate.core.matching import Analysis, LivenessModel, LivenessReading
from examgate.core.policy import Thresholds
from examgate.core.ports import Template


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return unit(w * a + (1 - w) * b)


def template(student: str, emb: np.ndarray, rng: np.random.Generator,
             version: str = "1") -> Template:
    return Template.from_embeddings(student, version, emb[None],
                                    rng.integers(0, 255, (1, 32, 32)).astype(np.uint8))


def analysis(emb: np.ndarray, rng: np.random.Generator) -> Analysis:
    return Analysis(1, {"sharpness": 100.0}, (), emb,
                    rng.integers(0, 255, (32, 32)).astype(np.uint8), {},
                    liveness=LivenessReading(0.95, 5, False, {}))


class FrameAnalyzer:
    """Model version "1" at ``thresholds``: each frame (bytes) shows the face given for it."""

    model_version = "1"
    liveness_model = LivenessModel(0.8, 0.3, "antispoof_v2:4eed38f0")

    def __init__(self, frames: dict[bytes, np.ndarray], thresholds: Thresholds,
                 rng: np.random.Generator) -> None:
        self.frames, self.thresholds, self.rng = frames, thresholds, rng

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        return analysis(self.frames[image], self.rng)


def checkin(frame: bytes, student: str) -> dict:
    return events.checkin(gate_id="g1", exam_id="e1", claimed_student_id=student,
                          frame=events.inline_frame(frame), camera_meta=events.camera("c", 1, 1))
