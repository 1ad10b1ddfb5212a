"""A classifier is a feature backbone followed by a head; defenses swap or wrap the head.

The intermediates API (``feature_info``, ``forward_intermediates``) follows timm's
(github.com/huggingface/pytorch-image-models, ``timm.models.*.forward_intermediates``); ``layers``
and ``freeze_first`` serve defenses that freeze a prefix of the network (TL).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class Backbone(nn.Module):
    """Maps images to a ``feature_dim`` vector (the penultimate feature of the classifier).

    Intermediates contract (timm-style), which a backbone implements for defenses that act on hidden
    representations (BiDO's HSIC terms) or on a prefix of the layers (TL):

    - ``feature_info``: one dict per hidden stage, in forward order, with ``module`` (the name of
      the submodule whose output is the stage's output), ``num_chs`` and ``reduction`` (the stride
      relative to the input); ``stage_names`` lists the ``module`` entries.
    - ``forward_intermediates(x) -> (feature, hidden)``: ``feature`` is bit-identical to
      ``forward(x)``; ``hidden[i]`` is the output of stage ``i``.
    - ``layers() -> list[nn.Module]``: the parameterised layers in forward order, the units that
      ``freeze_first`` counts.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    code: ClassVar[str] = ""
    feature_dim: int
    feature_info: list[dict]

    @property
    def stage_names(self) -> list[str]:
        return [f["module"] for f in getattr(self, "feature_info", [])]

    def forward_intermediates(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError(f"backbone {type(self).__name__} does not implement forward_intermediates "
                                  f"(the timm-style intermediates API of mibench.models.Backbone)")

    def layers(self) -> list[nn.Module]:
        raise NotImplementedError(f"backbone {type(self).__name__} does not implement layers() "
                                  f"(its parameterised layers in forward order)")

    def freeze_first(self, fraction: float) -> list[str]:
        """Set ``requires_grad=False`` on the first ``round(fraction * len(layers()))`` layers
        (Python's ``round``: halves go to the even integer) and return their names within the backbone.
        BatchNorm running statistics are untouched: put those layers in eval mode to fix them too."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        layers = self.layers()
        names = {id(m): n for n, m in self.named_modules()}
        frozen = layers[: round(fraction * len(layers))]
        for m in frozen:
            m.requires_grad_(False)
        return [names[id(m)] for m in frozen]


def sequential_intermediates(net: nn.Sequential, stage_ends: list[int],
                             x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``net`` on ``x``; return its output and the outputs of the modules at ``stage_ends``."""
    hidden = []
    for i, m in enumerate(net):
        x = m(x)
        if i in stage_ends:
            hidden.append(x)
    return x, hidden


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

    def forward_intermediates(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, hidden)``: ``logits`` equals ``forward(x)``; ``hidden`` is the backbone's stage
        outputs followed by the penultimate feature (``features(x)``)."""
        feature, hidden = self.backbone.forward_intermediates(x)
        return self.head(feature), [*hidden, feature]
