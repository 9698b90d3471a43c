"""Margin heads: logits shape, the margin lowers only the target logit, loss trains."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from trainer.losses import HEADS, ArcFace, CosFace, build_head  # noqa: E402


@pytest.mark.parametrize("name", ["cosface", "arcface"])
def test_margin_lowers_only_the_target_logit(name):
    torch.manual_seed(0)
    head = build_head(name, 16, 10, scale=32.0, margin=0.3)
    emb, labels = torch.randn(8, 16), torch.arange(8) % 10
    logits = head.logits(emb, labels)
    plain = head.scale * head.cosine(emb)
    assert logits.shape == (8, 10) and logits.dtype == torch.float32
    target = torch.zeros_like(plain, dtype=torch.bool).scatter(1, labels.view(-1, 1), True)
    assert torch.all(logits[target] < plain[target])
    assert torch.equal(logits[~target], plain[~target])


def test_cosface_subtracts_m_and_arcface_adds_m_to_the_angle():
    cos = torch.tensor([[0.8], [0.0], [-0.99]])
    assert torch.allclose(CosFace(4, 2, margin=0.35).target_cosine(cos), cos - 0.35)
    arc = ArcFace(4, 2, margin=0.5).target_cosine(cos)
    assert arc[0].item() == pytest.approx(math.cos(math.acos(0.8) + 0.5), abs=1e-6)
    assert arc[1].item() == pytest.approx(math.cos(math.pi / 2 + 0.5), abs=1e-6)
    # Past pi - m the target stays below the plain cosine (no wrap-around reward).
    assert arc[2].item() < -0.99


def test_loss_is_finite_under_bf16_autocast_and_decreases():
    torch.manual_seed(0)
    head = build_head("cosface", 8, 4, scale=16.0, margin=0.2)
    emb = torch.nn.Parameter(torch.randn(16, 8))
    labels = torch.arange(16) % 4
    opt = torch.optim.SGD([emb, *head.parameters()], lr=0.5)
    losses = []
    for _ in range(20):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = head(emb, labels)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_imprint_sets_unit_centres_and_registry_names():
    head = build_head("arcface", 4, 3, scale=64.0, margin=0.5)
    head.imprint(torch.eye(3, 4) * 5)
    assert torch.allclose(head.weight.norm(dim=1), torch.ones(3))
    assert HEADS.names() == ["arcface", "cosface"]
    with pytest.raises(ValueError):
        build_head("cosface", 4, 1, scale=1.0, margin=0.1)
