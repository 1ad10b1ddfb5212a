"""What an attack is, what it receives and what it returns.

An attack receives an :class:`AttackContext`: an access-limited view of the target (the access it
declares), the public images without labels, the attack budget, a cache for its target-dependent
artifacts and the priors it requested by name (:mod:`mibench.prior`). It never receives private data. It returns :class:`Reconstructions`: images in [0, 1] with the class each
one attacks and the seed index that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from .access import Access
from .components import Component
from .data import PublicImages
from .hotloops import HotLoop


@dataclass(frozen=True)
class AttackBudget:
    """Which classes are attacked, how many images per class and seed, and how many seeds."""

    classes: tuple[int, ...]
    per_class: int
    seeds: int

    @property
    def total(self) -> int:
        return len(self.classes) * self.per_class * self.seeds

    def labels_and_seeds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Target label and seed index of every reconstruction, seed-major then class-major."""
        classes = torch.tensor(self.classes).repeat_interleave(self.per_class)
        labels = classes.repeat(self.seeds)
        seeds = torch.arange(self.seeds).repeat_interleave(len(classes))
        return labels, seeds


@dataclass
class Reconstructions:
    images: torch.Tensor  # N x C x H x W, float32 in [0, 1]
    labels: torch.Tensor  # N, the class each image attacks
    seed_index: torch.Tensor  # N, which of the budget's seeds produced it
    notes: dict[str, Any] = field(default_factory=dict)
    """What the attack reports about its run (counts, fallbacks); stored in the record as ``attack_notes``."""

    def __post_init__(self):
        self.images = self.images.detach().float().clamp(0, 1).cpu()
        self.labels, self.seed_index = self.labels.cpu().long(), self.seed_index.cpu().long()
        if not (len(self.images) == len(self.labels) == len(self.seed_index)):
            raise ValueError("images, labels and seed_index must have the same length")


@dataclass
class AttackContext:
    target: Any  # WhiteBox | BlackBox | LabelOnly, as the attack declared
    public: PublicImages
    budget: AttackBudget
    image_shape: tuple[int, int, int]
    num_classes: int
    device: torch.device
    seed: int
    artifact: Callable[[str, dict, Callable[[], dict]], dict] = field(repr=False)
    """``artifact(name, config, build)``: the cached output of ``build()`` for this target and config."""
    prior: Callable[[str], Any] = field(default=None, repr=False)
    """``prior(name)``: a prior the attack listed in ``Attack.priors``, trained once and cached by its scope."""

    def latent_generator(self, seed_index: int) -> torch.Generator:
        """The generator for one of the budget's seeds: independent per (run seed, seed index)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + seed_index)


class Attack(Component):
    access: ClassVar[Access]
    priors: ClassVar[tuple[str, ...]] = ()
    """Names of the priors (``mibench.priors``) the attack requests through ``AttackContext.prior``."""
    control_only: ClassVar[bool] = False
    """A reference attacker whose score no defense can change (it ignores the target): it runs only
    as a control row (``--control``), never in the defense x attack grid or the worst case."""

    def query_budget(self) -> int | None:
        """The most target queries (images sent to the target) the attack may use; None: unbounded.
        The target view refuses the query that would exceed it."""
        return None

    def run(self, ctx: AttackContext) -> Reconstructions:
        raise NotImplementedError

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """The attack's innermost loops for ``mibench bench``, by name (``"inversion step"``): one step
        each of :meth:`run`'s own code on ``ctx``, which the bench fills with random public images, a
        randomly initialised target and priors trained for one step, at the suite profile's sizes
        (``ctx.budget``: the profile's, capped by ``--inversion-batch``). None by default."""
        return {}
