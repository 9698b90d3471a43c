"""POST /v1/compare and GET /v1/students/{id}/enrollment (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from api_world import KIOSK, REGISTRAR
from test_api_checkins import jpeg

from examgate.core.matching import Analysis, LivenessModel
from examgate.core.policy import Thresholds
from examgate.core.ports import Template

RNG = np.random.default_rng(5)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


ANN = _unit(RNG.normal(size=128))
SAME_ANN = _unit(ANN + 0.5 * _unit(RNG.normal(size=128)))
BOB = _unit(RNG.normal(size=128))
PHOTOS = {name: jpeg(seed) for seed, name in enumerate(("ann", "ann2", "bob", "empty"), 10)}


def _face(emb: np.ndarray | None, count: int = 1) -> Analysis:
    thumb = None if emb is None else RNG.integers(0, 255, (32, 32)).astype(np.uint8)
    return Analysis(face_count=count, quality={"sharpness": 90.0}, quality_failures=(),
                    embedding=emb, thumbnail=thumb)


class Analyzer:
    model_version = "7"
    thresholds = Thresholds(accept=0.46, reject=0.37)
    liveness_model = LivenessModel(0.8, 0.3, "antispoof:test")

    def __init__(self) -> None:
        self.by_bytes = {PHOTOS["ann"]: _face(ANN), PHOTOS["ann2"]: _face(SAME_ANN),
                         PHOTOS["bob"]: _face(BOB), PHOTOS["empty"]: _face(None, 0)}

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        return self.by_bytes[image]


def compare(client, a: str, b: str, token: str = REGISTRAR):
    files = {"image_a": ("a.jpg", PHOTOS[a], "image/jpeg"),
             "image_b": ("b.jpg", PHOTOS[b], "image/jpeg")}
    return client.post("/v1/compare", files=files, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("a", "b", "outcome", "reason", "concerns"), [
    ("ann", "ann2", "ACCEPT", "MATCH", "image_b"),
    ("ann", "bob", "REJECT", "NO_MATCH", "image_b"),
    ("empty", "ann", "REVIEW", "NO_FACE", "image_a"),
    ("ann", "empty", "REVIEW", "NO_FACE", "image_b"),
])
def test_two_photos_are_judged_as_a_check_in_would_be(world, a, b, outcome, reason,
                                                      concerns) -> None:
    world["analyzer"]["model"] = Analyzer()
    r = compare(world["client"], a, b)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["reason"], body["concerns"]) == (outcome, reason, concerns)
    assert body["model_version"] == "7" and body["thresholds"]["accept"] == 0.46
    assert body["liveness_judged"] is False
    if concerns == "image_a":
        assert body["similarity"] is None
    if reason != "NO_FACE":
        assert body["similarity"] == pytest.approx(
            float(_face(ANN).embedding @ (SAME_ANN if b == "ann2" else BOB)), abs=1e-5)


def test_the_same_photo_twice_is_a_replay(world) -> None:
    world["analyzer"]["model"] = Analyzer()
    body = compare(world["client"], "ann", "ann").json()
    assert (body["outcome"], body["reason"]) == ("REJECT", "REPLAY_SUSPECTED")


def test_compare_needs_the_right_and_a_model(world) -> None:
    assert compare(world["client"], "ann", "bob", token=KIOSK).json()["error"] == "NOT_IN_SCOPE"
    r = compare(world["client"], "ann", "bob")
    assert (r.status_code, r.json()["error"]) == (503, "MODEL_UNAVAILABLE")


def test_enrollment_status_names_versions_and_nothing_biometric(world) -> None:
    store = world["templates"]
    store.put(Template.from_embeddings("s-1", "1", ANN[None]))
    store.put(Template.from_embeddings("s-1", "2", ANN[None]))
    headers = {"Authorization": f"Bearer {REGISTRAR}"}
    body = world["client"].get("/v1/students/s-1/enrollment", headers=headers).json()
    assert body == {"student_id": "s-1", "enrolled": True, "model_versions": ["1", "2"]}
    assert world["client"].get("/v1/students/s-9/enrollment", headers=headers).json()[
        "enrolled"] is False
    kiosk = world["client"].get("/v1/students/s-1/enrollment",
                                headers={"Authorization": f"Bearer {KIOSK}"})
    assert kiosk.status_code == 403
    store.fail = True
    down = world["client"].get("/v1/students/s-1/enrollment", headers=headers)
    assert (down.status_code, down.json()["error"]) == (503, "TEMPLATE_STORE_UNAVAILABLE")
