"""What a defense is: an architecture wrapper, a loss and optional extra training stages.

The runner hands a defense a :class:`DefenseContext`; the default :meth:`Defense.train` builds the
suite's backbone with the defense's head and runs the shared trainer once with the defense's loss.
A defense overrides only what its paper changes (see ``defenses/calor.py`` for a two-stage one).

Multi-stage defenses wrap each stage in :meth:`DefenseContext.stage`: the stage's weights are
cached under the suite, the backbone, the defense's name and version, the target recipe and the
stage's own config, so changing a later stage's parameters (CALoR's CA) reuses the earlier stage
(CALoR's low-rank training, TL's public pre-training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from .components import Component
from .data import DataRoles, ImageSet
from .hotloops import HotLoop, fit_step
from .models import Backbone, Classifier
from .tensors import cpu_state
from .training import LossFn, TrainRecipe, cross_entropy, fit

StageCache = Callable[[str, dict, Callable[[], dict]], dict]


@dataclass
class DefenseContext:
    """Everything a defense may use to train the target."""

    data: DataRoles
    num_classes: int
    make_backbone: Callable[[], Backbone]
    recipe: TrainRecipe  # the suite's target recipe for this profile
    device: torch.device
    seed: int
    cache: StageCache = field(default=lambda name, config, build: build(), repr=False)
    """``cache(name, config, build)``: the stage cache the runner provides (scoped as described above)."""
    notes: dict[str, float] = field(default_factory=dict)
    """What the defense measured while training (CALoR's mean p_y before and after CA): cached with
    the target and stored in every record under ``components.defense``."""

    def fit(self, model: nn.Module, recipe: TrainRecipe | None = None, description: str = "target",
            data: ImageSet | None = None, **kwargs) -> list[float]:
        """Train ``model`` with the shared trainer on ``data`` (default: private_train; a defense
        may also pass ``ctx.data.public``, whose labels it may use)."""
        return fit(model, data if data is not None else self.data.private_train, recipe or self.recipe,
                   device=self.device, seed=self.seed, description=description, **kwargs)

    def stage(self, model: nn.Module, name: str, config: dict[str, Any], train: Callable[[nn.Module], Any]) -> nn.Module:
        """Run ``train(model)`` once per ``config`` and cache the resulting weights; a cached stage
        loads them into ``model`` instead. ``config`` must hold everything the stage depends on
        beyond the suite, backbone, recipe and defense version (earlier stages' configs included)."""

        def build() -> dict:
            train(model)
            return {"state_dict": cpu_state(model)}

        payload = self.cache(name, config, build)
        model.load_state_dict(payload["state_dict"])
        return model.to(self.device)


@dataclass(frozen=True)
class Ladder:
    """A defense's strength knob and its default ladder (``mibench frontier`` runs it).

    ``knob`` names what moves (a ``Params`` field, or several moved together, e.g.
    ``"lambda_x,lambda_y"``); ``points`` are parameter overrides ordered from the weakest to the
    strongest defense. Each point is resolved against the defense's ``Params`` like ``--set``
    values, so an unknown field or an out-of-range value is an error before any training.
    """

    knob: str
    points: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, knob: str, values: tuple | list) -> "Ladder":
        """A ladder over one ``Params`` field: ``Ladder.of("beta", (1e-3, 1e-2, 0.1))``."""
        return cls(knob, tuple({knob: v} for v in values))


class Defense(Component):
    """Base class: plain cross-entropy training of backbone + linear head.

    A defense with a strength knob declares ``ladder`` (see :class:`Ladder`); ``none`` has none.
    """

    ladder: ClassVar[Ladder | None] = None

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

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """The defense's training loops for ``mibench bench``, by name (``"train step"``): one step
        each of its own training on ``ctx``, which the bench fills with random images at the suite
        profile's sizes (:meth:`train_step` builds the usual one). None by default: plain
        cross-entropy training is the bench's own ``target train step``."""
        return {}

    def train_step(self, ctx: DefenseContext, model: nn.Module | None = None, loss: LossFn | None = None,
                   recipe: TrainRecipe | None = None, eval_modules: tuple[nn.Module, ...] | list = ()) -> HotLoop:
        """One step of ``ctx.fit`` on private_train: ``model`` (default: :meth:`build`) trained on
        ``loss`` (default: :meth:`loss`) with ``recipe``'s optimiser (default: ``ctx.recipe``)."""
        return fit_step(self.build(ctx) if model is None else model, ctx.data.private_train, recipe or ctx.recipe,
                        loss or self.loss, ctx.device, eval_modules)
