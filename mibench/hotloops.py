"""What ``mibench bench`` times: the hot loops each component declares for itself.

An attack, a prior or a defense declares its innermost loops with ``hot_loops(ctx)``
(:meth:`mibench.attack.Attack.hot_loops`, :meth:`mibench.prior.Prior.hot_loops`,
:meth:`mibench.defense.Defense.hot_loops`). ``ctx`` is the context its ``run`` / ``train``
receives, filled by the bench with random data at the suite profile's sizes, and each
:class:`HotLoop` is one step of the component's own code on it: the bench names no component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn

from .data import ImageSet
from .tensors import as_float
from .training import LossFn, TrainRecipe, sgd_for


@dataclass
class HotLoop:
    """One step of a component's loop, ready to be called again and again."""

    step: Callable[[], Any]
    """One iteration of the loop (its return value is ignored)."""
    items: int
    """What one step processes (images through the loop's main network, or transitions): items/s is
    ``items`` over the seconds per step."""
    precision_follows_run: bool = True
    """False: the loop stays fp32 at every ``--precision``, as a run keeps the judge."""


def fit_step(model: nn.Module, data: ImageSet, recipe: TrainRecipe, loss_fn: LossFn, device: torch.device,
             eval_modules: Iterable[nn.Module] = ()) -> HotLoop:
    """One step of :func:`mibench.training.fit`: a random batch of ``recipe.batch_size`` images of
    ``data`` sent to the device and converted there, ``loss_fn``, backward and the recipe's SGD step
    on the parameters that train (``eval_modules`` stay in eval mode, as fit keeps them)."""
    opt = sgd_for(model, recipe, device, eval_modules=eval_modules)

    def step() -> None:
        idx = torch.randint(0, len(data), (recipe.batch_size,))
        loss = loss_fn(model, as_float(data.images[idx].to(device)), data.labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return HotLoop(step, recipe.batch_size)
