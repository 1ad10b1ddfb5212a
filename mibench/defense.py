"""What a defense is: an architecture wrapper, a loss and optional extra training stages.

The runner hands a defense a :class:`DefenseContext`; the default :meth:`Defense.train` builds the
suite's backbone with the defense's head and runs the shared trainer once with the defense's loss.
A defense overrides only what its paper changes (see ``defenses/calor.py`` for a two-stage one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .components import Component
from .data import DataRoles
from .models import Backbone, Classifier
from .training import TrainRecipe, cross_entropy, fit


@dataclass
class DefenseContext:
    """Everything a defense may use to train the target."""

    data: DataRoles
    num_classes: int
    make_backbone: Callable[[], Backbone]
    recipe: TrainRecipe  # the suite's target recipe for this profile
    device: torch.device
    seed: int

    def fit(self, model: nn.Module, recipe: TrainRecipe | None = None, description: str = "target", **kwargs):
        return fit(model, self.data.private_train, recipe or self.recipe, device=self.device, seed=self.seed,
                   description=description, **kwargs)


class Defense(Component):
    """Base class: plain cross-entropy training of backbone + linear head."""

    def head(self, feature_dim: int, num_classes: int) -> nn.Module:
        return nn.Linear(feature_dim, num_classes)

    def build(self, ctx: DefenseContext) -> Classifier:
        backbone = ctx.make_backbone()
        return Classifier(backbone, self.head(backbone.feature_dim, ctx.num_classes))

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cross_entropy(model, x, y)

    def train(self, ctx: DefenseContext) -> Classifier:
        model = self.build(ctx)
        ctx.fit(model, loss_fn=self.loss, description=f"target [{self.name}]")
        return model
