"""A classifier is a feature backbone followed by a head; defenses swap or wrap the head."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class Backbone(nn.Module):
    """Maps images to a ``feature_dim`` vector (the penultimate feature of the classifier)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    code: ClassVar[str] = ""
    feature_dim: int


class Classifier(nn.Module):
    """``logits = head(backbone(x))``; ``features(x)`` is the backbone's output."""

    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
