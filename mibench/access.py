"""Access-limited views of the target model (docs/layout.md, data flow; docs/components.md).

An attack declares the access it needs and receives exactly that view:
- :class:`WhiteBox`: differentiable logits (gradients flow to the input, not to the weights) and
  the penultimate features (``Classifier.features``, the input of the head): white-box access
  includes the network's internals;
- :class:`BlackBox`: soft labels (softmax probabilities), no gradients;
- :class:`LabelOnly`: the predicted label only.
The model is held in a closure that already reduces its output to what the view gives, so neither
an attribute nor a private method of a label-only view returns logits or probabilities. Every
image sent to the target counts as one query; a view built with a ``query_budget`` refuses the
query that would exceed it (:class:`QueryBudgetError`).
"""

from __future__ import annotations

import enum
from typing import Callable

import torch
from torch import nn

from .errors import QueryBudgetError


class Access(str, enum.Enum):
    WHITE_BOX = "white-box"
    BLACK_BOX = "black-box"
    LABEL_ONLY = "label-only"


class _View:
    access: Access

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __init__(self, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int],
                 query_budget: int | None = None, owner: str = "the attack"):
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        reduce = type(self)._reduce
        self._query: Callable[[torch.Tensor], torch.Tensor] = lambda x: reduce(model(x))
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.query_budget = query_budget
        self.queries = 0
        self._owner = owner

    def _ask(self, x: torch.Tensor, query: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        if self.query_budget is not None and self.queries + len(x) > self.query_budget:
            raise QueryBudgetError(f"{self._owner} declared a budget of {self.query_budget} target queries and asked "
                                   f"for {self.queries + len(x)} ({self.queries} already used, {len(x)} more); "
                                   f"raise its budget parameter or lower its steps")
        self.queries += len(x)
        return (query or self._query)(x)


class WhiteBox(_View):
    access = Access.WHITE_BOX

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits

    def __init__(self, model: nn.Module, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self._penultimate = (lambda x: model.features(x)) if hasattr(model, "features") else None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The target's penultimate feature (differentiable like the logits); each image counts as a query."""
        if self._penultimate is None:
            raise TypeError("this white-box target has no penultimate features (a mibench.models.Classifier has)")
        return self._ask(x, self._penultimate)

    __call__ = logits


class BlackBox(_View):
    access = Access.BLACK_BOX

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits.detach().softmax(1)

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    __call__ = probs


class LabelOnly(_View):
    access = Access.LABEL_ONLY

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits.detach().argmax(1)

    @torch.no_grad()
    def labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    __call__ = labels


VIEWS = {Access.WHITE_BOX: WhiteBox, Access.BLACK_BOX: BlackBox, Access.LABEL_ONLY: LabelOnly}


def view_for(access: Access, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int],
             query_budget: int | None = None, owner: str = "the attack") -> _View:
    return VIEWS[Access(access)](model, num_classes, image_shape, query_budget, owner)
