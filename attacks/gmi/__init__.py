"""GMI: Generative Model Inversion (Zhang et al., CVPR 2020). White-box.

Code: github.com/AI-secure/GMI-Attack. Two stages (docs/protocol-card.md, ``attacks.gmi``):

1. The public prior ``gmi-wgan`` (:mod:`.prior`): a WGAN-GP on the public images, shared by every
   target of the suite.
2. Inversion: for each attacked class c and random start, a latent z ~ N(0, I) is optimised on

       L(z) = lambda * CE(T(G(z)), c) - D(G(z)),          lambda = 100,

   with GMI's Nesterov momentum update ``v <- m v - lr grad``, ``z <- z - m v_prev + (1 + m) v``
   (m = 0.9; lr 2e-2 on CelebA, 1e-2 on MNIST), then z is clipped to [-1, 1]; 1,500 steps. GMI
   averages L over its batch, the identities attacked together, so each latent steps by
   ``lr * grad_i / batch``: ``batch_identities`` = 100 in GMI's CelebA code, 5 in its MNIST code
   (BiDO's copy too), 60 in LOMMA's GMI (docs/protocol-card.md, ``attacks.gmi`` and
   ``attacks.lomma-gmi``). mibench splits each seed's classes into batches of at most
   ``batch_identities`` identities and divides each latent's loss by the identities of its batch
   (``batch_identities`` itself when it divides the classes, as on ``mnist`` and ``celeba64``
   ``full``), whatever the images per class: the divisor is not the budget (version 1 divided by
   classes x images per class). Every class and seed is optimised in one batch (in chunks only
   where the device's memory needs them: :class:`mibench.chunks.ChunkedGradient`); the generator
   and the critic are in eval mode, so no latent's step depends on the others'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.chunks import ChunkedGradient
from mibench.components import param
from mibench.hotloops import HotLoop
from mibench.progress import progress
from mibench.training import check_finite

PRIOR = "gmi-wgan"


def gmi_loss(logits: torch.Tensor, critic_scores: torch.Tensor, labels: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-latent ``lam * CE(logits, label) - D(G(z))`` (GMI's identity loss plus its prior loss)."""
    return lam * F.cross_entropy(logits, labels, reduction="none") - critic_scores


def nesterov_step(z: torch.Tensor, v: torch.Tensor, grad: torch.Tensor, lr: float, momentum: float,
                  clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GMI's update: ``v' = m v - lr g``; ``z' = clip(z - m v + (1 + m) v', -clip, clip)``; returns (z', v')."""
    v_new = momentum * v - lr * grad
    return (z - momentum * v + (1 + momentum) * v_new).clamp(-clip, clip), v_new


def loss_divisors(classes: int, per_class: int, seeds: int, batch_identities: int) -> torch.Tensor:
    """Per latent (seed-major, then class-major, as ``AttackBudget.labels_and_seeds``), the identities
    of its batch: each seed's classes in batches of at most ``batch_identities``, GMI's batch mean."""
    sizes = [min(batch_identities, classes - start) for start in range(0, classes, batch_identities)]
    per_identity = torch.tensor([float(n) for n in sizes]).repeat_interleave(torch.tensor(sizes))
    return per_identity.repeat_interleave(per_class).repeat(seeds)


class GMI(Attack):
    name = "gmi"
    version = "2"  # the loss is divided by the identities of a batch (batch_identities), not the budget
    paper = "Zhang et al., The Secret Revealer: Generative Model-Inversion Attacks Against Deep Neural Networks, CVPR 2020"
    code = "https://github.com/AI-secure/GMI-Attack"
    access = Access.WHITE_BOX
    priors = (PRIOR,)

    @dataclass(frozen=True)
    class Params:
        lam: float = param(100.0, min=0.0, help="weight of the identity loss (0: the prior alone, the control row)")
        lr: float = param(2e-2, min=0.0)
        momentum: float = param(0.9, min=0.0, max=1.0)
        steps: int = param(1500, budget="steps")
        clip: float = param(1.0, min=0.0, help="latents are clipped to [-clip, clip] after every step")
        batch_identities: int = param(100, min=1, help="identities of one batch, the divisor of its loss (GMI's "
                                                       "CelebA 100, its MNIST 5, LOMMA's 60)")

    def latent_loss(self, ctx: AttackContext) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, critic_scores, labels) -> per-latent loss``, built once per run: :func:`gmi_loss` on the
        target's logits. The hook that attacks built on GMI's inversion (LOMMA) replace."""
        p = self.params

        def loss(x: torch.Tensor, critic_scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = ctx.target.logits(x) if p.lam > 0 else x.new_zeros(len(x), ctx.num_classes)
            return gmi_loss(logits, critic_scores, y, p.lam)

        return loss

    def run(self, ctx: AttackContext) -> Reconstructions:
        inversion = Inversion(self, ctx)
        with progress(f"{self.name}: inversion", self.params.steps) as advance:
            for step in range(self.params.steps):
                loss = inversion.step()
                check_finite(loss.mean(), f"attack {self.name}, stage inversion", step)
                advance(loss=loss.mean().item())
        with torch.no_grad():
            return Reconstructions(inversion.prior.generator(inversion.z), inversion.labels, inversion.seeds)

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """``inversion step``: one update of every latent of the budget (:class:`Inversion`)."""
        inversion = Inversion(self, ctx)
        return {"inversion step": HotLoop(inversion.step, len(inversion.z))}


class Inversion:
    """GMI's stage 2 on every latent of the budget at once (in chunks only where memory needs them):
    one :meth:`step` is one Nesterov update of every latent on :meth:`GMI.latent_loss`."""

    def __init__(self, attack: GMI, ctx: AttackContext):
        self.p = attack.params
        self.prior = ctx.prior(PRIOR)
        self.latent_loss = attack.latent_loss(ctx)
        self.labels, self.seeds = ctx.budget.labels_and_seeds()
        per_seed = len(ctx.budget.classes) * ctx.budget.per_class
        self.z = torch.cat([torch.randn(per_seed, self.prior.dim_z, generator=ctx.latent_generator(s))
                            for s in range(ctx.budget.seeds)]).to(ctx.device)
        self.v, self.y = torch.zeros_like(self.z), self.labels.to(ctx.device)
        self.divisor = loss_divisors(len(ctx.budget.classes), ctx.budget.per_class, ctx.budget.seeds,
                                     self.p.batch_identities).to(ctx.device)
        self.gradient = ChunkedGradient(len(self.z))

    def step(self) -> torch.Tensor:
        """One update of every latent; returns each latent's loss before it."""
        p, z = self.p, self.z.requires_grad_(True)

        def loss_of(rows: slice) -> torch.Tensor:
            x = self.prior.generator(z[rows])
            return self.latent_loss(x, self.prior.critic(x), self.y[rows])

        def reduce(chunk: torch.Tensor, rows: slice) -> torch.Tensor:  # GMI's batch means, summed over batches
            return (chunk / self.divisor[rows].to(chunk.dtype)).sum()

        (grad,), loss = self.gradient(loss_of, reduce, [z])
        self.z, self.v = nesterov_step(z.detach(), self.v, grad, p.lr, p.momentum, p.clip)
        return loss
