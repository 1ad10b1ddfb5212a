"""The one classifier trainer that defenses customise.

A :class:`TrainRecipe` is the optimiser schedule: SGD with momentum (optionally Nesterov) and
weight decay, with either step decay at fractions of the run (``schedule="step"``, the field's
usual recipe) or a one-cycle schedule (``"onecycle"``: warm-up over the first ``warmup`` fraction
to ``lr``, then cosine annealing; Smith & Topin 2019), which trains a judge to high accuracy in few
epochs. :func:`fit` runs it with a loss ``loss_fn(model, x, y) -> scalar`` so a
defense can replace the loss (CALoR's CA, MID's KL term, BiDO's HSIC terms) without writing an
epoch loop. Batches are drawn by a seeded generator: the same recipe, data and seed train the
same weights.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageSet
from .errors import TrainingError
from .progress import progress
from .tensors import as_float, batched

TRAINER_VERSION = "1"
"""Part of every trained artifact's cache key: bump it when :func:`fit` changes results."""

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class TrainRecipe:
    epochs: float = 100
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: tuple[float, ...] = ()  # fractions of the run at which lr *= lr_gamma
    lr_gamma: float = 0.1
    augment_shift: int = 0  # random translation by up to this many pixels (0: none)
    schedule: str = "step"  # "step" (lr_milestones) or "onecycle"
    nesterov: bool = False
    warmup: float = 0.25  # onecycle: fraction of the run spent warming up

    def replace(self, **changes) -> "TrainRecipe":
        return dataclasses.replace(self, **changes)


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def check_finite(loss: torch.Tensor | float, where: str, step: int) -> None:
    """Raise :class:`TrainingError` naming the stage and the step when ``loss`` is NaN or infinite."""
    value = torch.as_tensor(loss)
    if not torch.isfinite(value).all():
        raise TrainingError(f"{where}: the loss became {value.tolist()} at step {step + 1}; nothing was cached. "
                            f"Lower the learning rate or check the component's parameters")


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift] with zero padding."""
    n, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


def sgd_for(model: nn.Module, recipe: TrainRecipe, device: torch.device,
            parameters: Iterable[nn.Parameter] | None = None, eval_modules: Iterable[nn.Module] = ()) -> torch.optim.SGD:
    """``model`` on ``device`` in train mode (``eval_modules`` in eval mode) and the recipe's SGD over
    the parameters that train (``parameters``, default all of the model's)."""
    model.to(device).train()
    for module in eval_modules:
        module.eval()
    params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                           nesterov=recipe.nesterov)


def fit(model: nn.Module, data: ImageSet, recipe: TrainRecipe, *, loss_fn: LossFn = cross_entropy,
        parameters: Iterable[nn.Parameter] | None = None, device: torch.device, seed: int,
        description: str = "train", on_step: Callable[[int, int], None] | None = None,
        eval_modules: Iterable[nn.Module] = ()) -> list[float]:
    """Train ``model`` in place; returns the mean loss of each epoch. ``on_step(step, total)`` is
    called before each step's loss (a defense's schedule, e.g. NegLS's alpha ramp);
    ``eval_modules`` stay in eval mode (frozen BatchNorm statistics, e.g. TL's frozen layers)."""
    opt = sgd_for(model, recipe, device, parameters, eval_modules)
    n = len(data)
    steps_per_epoch = max(1, n // recipe.batch_size)
    total = max(1, round(recipe.epochs * steps_per_epoch))
    if recipe.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total, pct_start=recipe.warmup)
    elif recipe.schedule == "step":
        milestones = sorted(round(f * total) for f in recipe.lr_milestones)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=recipe.lr_gamma)
    else:
        raise ValueError(f"TrainRecipe.schedule must be 'step' or 'onecycle', got {recipe.schedule!r}")
    gen = torch.Generator().manual_seed(seed)
    history: list[float] = []
    running, count, order = 0.0, 0, torch.empty(0, dtype=torch.long)
    with progress(description, total) as advance:
        for step in range(total):
            pos = (step % steps_per_epoch) * recipe.batch_size
            if pos == 0:
                order = torch.randperm(n, generator=gen)
            idx = order[pos:pos + recipe.batch_size]
            x, y = data.images[idx], data.labels[idx]
            if recipe.augment_shift:
                x = random_shift(x, recipe.augment_shift, gen)
            if on_step is not None:
                on_step(step, total)
            loss = loss_fn(model, as_float(x.to(device)), y.to(device))
            check_finite(loss, description, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running, count = running + loss.item(), count + 1
            if (step + 1) % steps_per_epoch == 0 or step + 1 == total:
                history.append(running / count)
                running, count = 0.0, 0
            advance(loss=loss.item())
    model.eval()
    return history


def accuracy(model: nn.Module, data: ImageSet, device: torch.device) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on ``data``."""
    model.eval()
    pred = batched(model, data.images, device).argmax(1)
    return (pred == data.labels).float().mean().item()
