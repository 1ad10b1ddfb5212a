"""What a prior is: a generative model that attacks request by name (docs/components.md, attacks and priors).

A prior is trained once and cached under what determines it:

- ``scope = "public"`` (GMI's WGAN-GP): the suite (name, version, train seed), the public images'
  fingerprint, and the prior's name, version and parameters. It never sees the target, so every
  defense and every attack that requests it shares one copy per suite.
- ``scope = "target"``: the same plus the target's key; :attr:`PriorContext.target` is then the
  requesting attack's access view (so the prior can only use the access the attack declared).

An attack lists the priors it uses in ``Attack.priors``; their parameters are resolved like any
component's (the paper's defaults, the profile's budget scaling and ``"priors.<name>"`` overrides,
then the user's ``--set prior.<name>.<param>=...``) and stored in the run spec. A prior is its own
entry-point group (``mibench.priors``), so a third-party attack can request a built-in prior and a
third-party prior can serve a built-in attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .components import Component
from .data import PublicImages
from .hotloops import HotLoop

SCOPES = ("public", "target")


@dataclass
class PriorContext:
    public: PublicImages
    image_shape: tuple[int, int, int]
    num_classes: int
    device: torch.device
    seed: int
    """The suite's train seed: a prior does not change with the run's attack seed."""
    target: Any = None
    """The requesting attack's access view for ``scope = "target"`` priors, else None."""
    target_arch: str | None = None
    """The suite's target architecture (``MODELS`` name) for ``scope = "target"`` priors, else None."""


class Prior(Component):
    scope: ClassVar[str] = "public"

    def train(self, ctx: PriorContext) -> dict[str, Any]:
        """Train the prior; returns its state (tensors and plain values), which is what gets cached."""
        raise NotImplementedError

    def load(self, state: dict[str, Any], ctx: PriorContext) -> Any:
        """The usable prior (modules on ``ctx.device``, in eval mode) from a cached state."""
        raise NotImplementedError

    def hot_loops(self, ctx: PriorContext) -> dict[str, HotLoop]:
        """The prior's training loops for ``mibench bench``, by name (``"GAN step"``): one step each
        of :meth:`train`'s own code on ``ctx``, which the bench fills with random public images (and,
        for ``scope = "target"``, a randomly initialised target's view) at the suite's sizes. None by
        default."""
        return {}
