"""Access-limited views of the target model (DESIGN.md, access views).

An attack declares the access it needs and receives exactly that view:
- :class:`WhiteBox`: differentiable logits (gradients flow to the input, not to the weights);
- :class:`BlackBox`: soft labels (softmax probabilities), no gradients;
- :class:`LabelOnly`: the predicted label only.
The model is held in a closure, not an attribute, so a label-only attack cannot read logits by
accident.
"""

from __future__ import annotations

import enum
from typing import Callable

import torch
from torch import nn


class Access(str, enum.Enum):
    WHITE_BOX = "white-box"
    BLACK_BOX = "black-box"
    LABEL_ONLY = "label-only"


class _View:
    def __init__(self, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int]):
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        self._call: Callable[[torch.Tensor], torch.Tensor] = lambda x: model(x)
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.queries = 0

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += len(x)
        return self._call(x)


class WhiteBox(_View):
    access = Access.WHITE_BOX

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(x)

    __call__ = logits


class BlackBox(_View):
    access = Access.BLACK_BOX

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(x).softmax(1)

    __call__ = probs


class LabelOnly(_View):
    access = Access.LABEL_ONLY

    @torch.no_grad()
    def labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(x).argmax(1)

    __call__ = labels


VIEWS = {Access.WHITE_BOX: WhiteBox, Access.BLACK_BOX: BlackBox, Access.LABEL_ONLY: LabelOnly}


def view_for(access: Access, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int]) -> _View:
    return VIEWS[Access(access)](model, num_classes, image_shape)
