"""Margin heads: a normalised linear classifier whose target logit pays a margin.

Both compare the unit embedding with unit class centres, so a logit is
``scale * cos(theta)``. CosFace subtracts ``m`` from the target's cosine,
ArcFace adds ``m`` to the target's angle. The maths runs in float32 whatever
the autocast context: a bf16 cosine near 1 has too few bits for a 0.35 margin
at scale 64 to mean anything.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from examgate.vision.registry import Registry

HEADS: Registry[MarginHead] = Registry("head")


def build_head(name: str, embedding_dim: int, num_classes: int, *, scale: float,
               margin: float) -> MarginHead:
    """The margin head registered as ``name``."""
    return HEADS.create(name, embedding_dim=embedding_dim, num_classes=num_classes,
                        scale=scale, margin=margin)


class MarginHead(nn.Module):
    """Class centres on the unit sphere; ``forward`` returns the mean cross-entropy."""

    def __init__(self, embedding_dim: int, num_classes: int, scale: float = 64.0,
                 margin: float = 0.35) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a margin head needs at least 2 classes, got {num_classes}")
        self.scale = float(scale)
        self.margin = float(margin)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.weight, std=0.01)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N, classes) cosines between embeddings and class centres, float32."""
        with torch.autocast(embeddings.device.type, enabled=False):
            return F.linear(F.normalize(embeddings.float()), F.normalize(self.weight.float()))

    def target_cosine(self, cos_target: torch.Tensor) -> torch.Tensor:
        """The target class's cosine after the margin; the base class applies none."""
        return cos_target

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scaled logits with the margin applied to each row's target class."""
        cos = self.cosine(embeddings)
        index = labels.view(-1, 1).long()
        target = self.target_cosine(cos.gather(1, index))
        return self.scale * cos.scatter(1, index, target)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the margin logits."""
        return F.cross_entropy(self.logits(embeddings, labels), labels.long())

    @torch.no_grad()
    def imprint(self, centres: torch.Tensor) -> None:
        """Set the class centres (rows) from, e.g., mean embeddings per class."""
        if centres.shape != self.weight.shape:
            raise ValueError(f"centres {tuple(centres.shape)} != {tuple(self.weight.shape)}")
        self.weight.copy_(F.normalize(centres.float()))


@HEADS.register("cosface")
class CosFace(MarginHead):
    """Additive cosine margin: ``s * (cos(theta) - m)`` for the target (Wang et al., 2018)."""

    def target_cosine(self, cos_target: torch.Tensor) -> torch.Tensor:
        """The target cosine minus ``m``."""
        return cos_target - self.margin


@HEADS.register("arcface")
class ArcFace(MarginHead):
    """Additive angular margin: ``s * cos(theta + m)`` for the target (Deng et al., 2019)."""

    def __init__(self, embedding_dim: int, num_classes: int, scale: float = 64.0,
                 margin: float = 0.5) -> None:
        super().__init__(embedding_dim, num_classes, scale, margin)
        self._cos_m, self._sin_m = math.cos(self.margin), math.sin(self.margin)
        # Past theta = pi - m, cos(theta + m) would rise again; continue linearly instead.
        self._threshold = math.cos(math.pi - self.margin)
        self._linear_drop = math.sin(math.pi - self.margin) * self.margin

    def target_cosine(self, cos_target: torch.Tensor) -> torch.Tensor:
        """``cos(theta + m)`` where defined monotonically, else ``cos - m sin(m)``-like."""
        sin = torch.sqrt((1.0 - cos_target * cos_target).clamp_min(1e-7))
        shifted = cos_target * self._cos_m - sin * self._sin_m
        return torch.where(cos_target > self._threshold, shifted, cos_target - self._linear_drop)
