"""KED-MI: Knowledge-Enriched Distributional Model Inversion (Chen et al., ICCV 2021). White-box.

Code: github.com/SCccc21/Knowledge-Enriched-DMI. Two stages (PROTOCOL.md section 5):

1. The target-scoped prior ``kedmi-gan`` (:mod:`.prior`): a GAN whose discriminator learns the
   target's soft labels on the public images.
2. Distributional recovery: for each attacked class c, a Gaussian N(mu, diag(exp(log_var))) over
   the latent space (mu = 0, log_var = 1 at the start) is learned with Adam (lr 2e-2) on

       L(mu, log_var) = mean softplus(lse l(G(z))) - mean lse l(G(z)) + lambda * CE(T(G(z)), c),
       z = mu + exp(log_var / 2) * eps,  eps ~ N(0, I)  (reparameterisation),  lambda = 100,

   for 2,400 steps (l: the discriminator's logits; the first two terms are -log D(G(z)) of the
   K + 1-class GAN), then images are sampled from the learned distribution. Each of the budget's
   seeds learns its own distribution per class (an independent run) and draws ``per_class``
   images from it. The loss is a mean over one seed's classes, as KED-MI's batch of identities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.components import param
from mibench.progress import progress
from mibench.training import check_finite

PRIOR = "kedmi-gan"


def realness_loss(disc_logits: torch.Tensor) -> torch.Tensor:
    """Per sample ``softplus(lse l) - lse l`` = ``-log D(x)`` with ``D = sigma(lse l)``."""
    lse = disc_logits.logsumexp(1)
    return F.softplus(lse) - lse


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``mu + exp(log_var / 2) * eps``."""
    return mu + torch.exp(0.5 * log_var) * eps


class KEDMI(Attack):
    name = "kedmi"
    version = "1"
    paper = "Chen et al., Knowledge-Enriched Distributional Model Inversion Attacks, ICCV 2021"
    code = "https://github.com/SCccc21/Knowledge-Enriched-DMI"
    access = Access.WHITE_BOX
    priors = (PRIOR,)

    @dataclass(frozen=True)
    class Params:
        lam: float = param(100.0, min=0.0, help="weight of the identity loss")
        lr: float = param(2e-2, min=0.0)
        steps: int = param(2400, budget="steps")

    def identity_loss(self, ctx: AttackContext) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, labels) -> per-image identity loss``, built once per run: the target's cross-entropy.
        The hook that attacks built on KED-MI's recovery (LOMMA) replace."""
        return lambda x, y: F.cross_entropy(ctx.target.logits(x), y, reduction="none")

    def run(self, ctx: AttackContext) -> Reconstructions:
        p, dev = self.params, ctx.device
        gan = ctx.prior(PRIOR)
        identity_loss = self.identity_loss(ctx)
        classes = torch.tensor(ctx.budget.classes)
        k, s = len(classes), ctx.budget.seeds
        y = classes.repeat(s).to(dev)  # one distribution per (seed, class), seed-major
        mu = torch.zeros(s * k, gan.dim_z, device=dev, requires_grad=True)
        log_var = torch.ones(s * k, gan.dim_z, device=dev, requires_grad=True)
        opt = torch.optim.Adam([mu, log_var], lr=p.lr)
        noise = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 11)
        with progress(f"{self.name}: distributional recovery", p.steps) as advance:
            for step in range(p.steps):
                z = reparameterize(mu, log_var, torch.randn(mu.shape, generator=noise).to(dev))
                x = gan.generator(z)
                loss = realness_loss(gan.discriminator(x)[1]) + p.lam * identity_loss(x, y)
                check_finite(loss.mean(), f"attack {self.name}, stage distributional recovery", step)
                opt.zero_grad(set_to_none=True)
                (loss.sum() / k).backward()  # the mean over each seed's classes, summed over seeds
                opt.step()
                advance(loss=loss.mean().item())
        labels, seeds = ctx.budget.labels_and_seeds()  # seed-major, then class-major, per_class each
        row = seeds * k + torch.tensor([ctx.budget.classes.index(int(c)) for c in labels])
        with torch.no_grad():
            z = torch.cat([reparameterize(mu[row[seeds == i]], log_var[row[seeds == i]],
                                          torch.randn(int((seeds == i).sum()), gan.dim_z,
                                                      generator=ctx.latent_generator(i)).to(dev))
                           for i in range(s)])
            return Reconstructions(gan.generator(z), labels, seeds)
