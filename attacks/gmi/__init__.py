"""GMI: Generative Model Inversion (Zhang et al., CVPR 2020). White-box.

Code: github.com/AI-secure/GMI-Attack. Two stages (PROTOCOL.md section 5):

1. The public prior ``gmi-wgan`` (:mod:`.prior`): a WGAN-GP on the public images, shared by every
   target of the suite.
2. Inversion: for each attacked class c and random start, a latent z ~ N(0, I) is optimised on

       L(z) = lambda * CE(T(G(z)), c) - D(G(z)),          lambda = 100,

   with GMI's Nesterov momentum update ``v <- m v - lr grad``, ``z <- z - m v_prev + (1 + m) v``
   (m = 0.9; lr 2e-2 on CelebA, 1e-2 on MNIST), then z is clipped to [-1, 1]; 1,500 steps. GMI
   averages L over its batch (the attacked identities of one random seed), so each latent's step
   is divided by the number of latents per seed; mibench does the same per budget seed and
   optimises every class and seed in one batch (in chunks only where the device's memory needs
   them: :class:`mibench.chunks.ChunkedGradient`). The generator and the critic are in eval mode,
   so no latent's step depends on the others'.
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


class GMI(Attack):
    name = "gmi"
    version = "1"
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

    def latent_loss(self, ctx: AttackContext) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, critic_scores, labels) -> per-latent loss``, built once per run: :func:`gmi_loss` on the
        target's logits. The hook that attacks built on GMI's inversion (LOMMA) replace."""
        p = self.params

        def loss(x: torch.Tensor, critic_scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = ctx.target.logits(x) if p.lam > 0 else x.new_zeros(len(x), ctx.num_classes)
            return gmi_loss(logits, critic_scores, y, p.lam)

        return loss

    def run(self, ctx: AttackContext) -> Reconstructions:
        p = self.params
        prior = ctx.prior(PRIOR)
        latent_loss = self.latent_loss(ctx)
        labels, seeds = ctx.budget.labels_and_seeds()
        per_seed = len(ctx.budget.classes) * ctx.budget.per_class
        z = torch.cat([torch.randn(per_seed, prior.dim_z, generator=ctx.latent_generator(s))
                       for s in range(ctx.budget.seeds)]).to(ctx.device)
        v, y = torch.zeros_like(z), labels.to(ctx.device)
        gradient = ChunkedGradient(len(z))  # every latent at once, in chunks only where memory needs them
        with progress(f"{self.name}: inversion", p.steps) as advance:
            for step in range(p.steps):
                z.requires_grad_(True)

                def loss_of(rows: slice) -> torch.Tensor:
                    x = prior.generator(z[rows])
                    return latent_loss(x, prior.critic(x), y[rows])

                (grad,), loss = gradient(loss_of, lambda chunk, rows: chunk.sum() / per_seed, [z])
                check_finite(loss.mean(), f"attack {self.name}, stage inversion", step)
                z, v = nesterov_step(z.detach(), v, grad, p.lr, p.momentum, p.clip)
                advance(loss=loss.mean().item())
        with torch.no_grad():
            return Reconstructions(prior.generator(z), labels, seeds)
