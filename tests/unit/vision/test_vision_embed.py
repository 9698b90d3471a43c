"""SFace: unit vectors, batch == single, graph rewrite keeps outputs, same person scores higher."""

from __future__ import annotations

import numpy as np
import pytest

from examgate.vision.align import align_face
from examgate.vision.embedders import create_embedder, embedder_names
from examgate.vision.embedders.onnx_graph import onnx_available
from examgate.vision.errors import UnknownModelError
from examgate.vision.model_files import BUNDLED, locate_model, sha256_file

RNG = np.random.default_rng(7)
FACES = RNG.integers(0, 255, (5, 112, 112, 3), dtype=np.uint8)


def test_model_files_are_located_with_pinned_checksums():
    for name in ("yunet", "sface"):
        found = locate_model(name)
        assert found.path.is_file() and found.sha256 == BUNDLED[name].sha256
        assert sha256_file(found.path) == found.sha256


def test_registry():
    assert "sface" in embedder_names()
    with pytest.raises(UnknownModelError):
        create_embedder("nope")


def test_embeddings_are_unit_float32_and_batch_equals_single(sface):
    batch = sface.embed(FACES)
    assert batch.shape == (5, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.concatenate([sface.embed(f) for f in FACES])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    assert sface.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)


def test_wrong_shape_is_rejected(sface):
    with pytest.raises(ValueError):
        sface.embed(np.zeros((2, 100, 100, 3), np.uint8))


@pytest.mark.skipif(not onnx_available(), reason="the onnx package is absent")
def test_graph_rewrite_keeps_outputs(sface):
    stock = create_embedder("sface", optimise=False)
    assert np.abs(stock.embed(FACES) - sface.embed(FACES)).max() < 1e-5


def test_flip_tta_is_mirror_invariant():
    flip = create_embedder("sface", flip=True)
    a = flip.embed(FACES[:2])
    b = flip.embed(np.ascontiguousarray(FACES[:2, :, ::-1]))
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_a_mirrored_template_is_the_flip_average_and_costs_only_the_mirror_pass(sface):
    flip = create_embedder("sface", flip=True)
    plain = sface.embed(FACES[:3])
    template = sface.embed_with_mirror(FACES[:3])
    np.testing.assert_allclose(template, flip.embed(FACES[:3]), atol=1e-5)
    np.testing.assert_allclose(sface.embed_with_mirror(FACES[:3], plain), template, atol=1e-6)
    # A face and its mirror image make the same template; the probe stays one pass.
    mirrored = sface.embed_with_mirror(np.ascontiguousarray(FACES[:3, :, ::-1]))
    np.testing.assert_allclose(mirrored, template, atol=1e-5)
    assert np.abs(template - plain).max() > 1e-3
    with pytest.raises(ValueError, match="embeddings for"):
        sface.embed_with_mirror(FACES[:3], plain[:2])


SAME = [("Aaron_Peirsol", 1, 2), ("Serena_Williams", 1, 2), ("Colin_Powell", 1, 3),
        ("Gerhard_Schroeder", 1, 2)]
DIFFERENT = [("Aaron_Peirsol", 1, "Serena_Williams", 1),
             ("Colin_Powell", 1, "Gerhard_Schroeder", 1),
             ("Serena_Williams", 2, "Colin_Powell", 3),
             ("Aaron_Peirsol", 2, "Gerhard_Schroeder", 2)]


@pytest.mark.lfw
def test_same_person_pairs_score_above_different_person_pairs(lfw_image, yunet, sface):
    cache: dict[tuple[str, int], np.ndarray] = {}

    def emb(name: str, n: int) -> np.ndarray:
        if (name, n) not in cache:
            image = lfw_image(name, n)
            cache[(name, n)] = sface.embed(align_face(image, yunet.detect(image)[0]))[0]
        return cache[(name, n)]

    same = [float(emb(p, i) @ emb(p, j)) for p, i, j in SAME]
    diff = [float(emb(a, i) @ emb(b, j)) for a, i, b, j in DIFFERENT]
    assert min(same) > max(diff)
    assert min(same) > 0.4 and max(diff) < 0.3
