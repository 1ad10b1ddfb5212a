"""KED-MI: Knowledge-Enriched Distributional Model Inversion (Chen et al., ICCV 2021). White-box.

Code: github.com/SCccc21/Knowledge-Enriched-DMI. Two stages (docs/protocol-card.md, ``attacks.kedmi``):

1. The target-scoped prior ``kedmi-gan`` (:mod:`.prior`): a GAN whose discriminator learns the
   target's soft labels on the public images.
2. Distributional recovery: for each attacked class c, a Gaussian N(mu, diag(exp(log_var))) over
   the latent space (mu = 0, log_var = 1 at the start) is learned with Adam (lr 2e-2) on

       L(mu, log_var) = mean softplus(lse l(G(z))) - mean lse l(G(z)) + lambda * CE(T(G(z)), c),
       z = mu + exp(log_var / 2) * eps,  eps ~ N(0, I)  (reparameterisation),  lambda = 100,

   for 2,400 steps (l: the discriminator's logits; the first two terms are -log D(G(z)) of the
   K + 1-class GAN), then images are sampled from the learned distribution. Each of the budget's
   seeds learns its own distribution per class (an independent run) and draws ``per_class``
   images from it.

The identities are recovered in batches of ``batch_identities`` (60) of one seed, and the loss is a
mean over a batch, as in KED-MI's ``recovery.py`` (300 CelebA identities as 5 batches of 60; the 5
MNIST digits as one batch). The batch matters beyond the mean: the discriminator's minibatch
discrimination compares each image with the others of its batch, so its realness term is computed
per batch and never across seeds (version 1 gave the discriminator all seeds' images at once). All
batches still run in one step, in chunks of whole batches only where memory needs them
(:class:`mibench.chunks.ChunkedGradient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.chunks import ChunkedGradient
from mibench.claims import Stronger
from mibench.components import param
from mibench.hotloops import HotLoop
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
    version = "2"
    paper = "Chen et al., Knowledge-Enriched Distributional Model Inversion Attacks, ICCV 2021"
    code = "https://github.com/SCccc21/Knowledge-Enriched-DMI"
    claims = (Stronger("gmi", "KED-MI recovers more private classes than GMI"),)
    access = Access.WHITE_BOX
    priors = (PRIOR,)

    @dataclass(frozen=True)
    class Params:
        lam: float = param(100.0, min=0.0, help="weight of the identity loss")
        lr: float = param(2e-2, min=0.0)
        steps: int = param(2400, budget="steps")
        batch_identities: int = param(60, min=1, help="identities recovered together: the discriminator's batch")

    def identity_loss(self, ctx: AttackContext) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, labels) -> per-image identity loss``, built once per run: the target's cross-entropy.
        The hook that attacks built on KED-MI's recovery (LOMMA) replace."""
        return lambda x, y: F.cross_entropy(ctx.target.logits(x), y, reduction="none")

    def run(self, ctx: AttackContext) -> Reconstructions:
        recovery = Recovery(self, ctx)
        with progress(f"{self.name}: distributional recovery", self.params.steps) as advance:
            for step in range(self.params.steps):
                loss = recovery.step()
                check_finite(loss.mean(), f"attack {self.name}, stage distributional recovery", step)
                advance(loss=loss.mean().item())
        gan, mu, log_var, dev = recovery.gan, recovery.mu, recovery.log_var, ctx.device
        k, s = len(ctx.budget.classes), ctx.budget.seeds
        labels, seeds = ctx.budget.labels_and_seeds()  # seed-major, then class-major, per_class each
        row = seeds * k + torch.tensor([ctx.budget.classes.index(int(c)) for c in labels])
        with torch.no_grad():
            z = torch.cat([reparameterize(mu[row[seeds == i]], log_var[row[seeds == i]],
                                          torch.randn(int((seeds == i).sum()), gan.dim_z,
                                                      generator=ctx.latent_generator(i)).to(dev))
                           for i in range(s)])
            return Reconstructions(gan.generator(z), labels, seeds)

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """``recovery step``: one Adam step of every (seed, class) distribution (:class:`Recovery`)."""
        recovery = Recovery(self, ctx)
        return {"recovery step": HotLoop(recovery.step, len(recovery.mu))}


class Recovery:
    """KED-MI's stage 2 for every (seed, class) distribution at once: one :meth:`step` draws z by
    reparameterisation from each and takes one Adam step of every mu and log_var on the batches'
    mean losses (all batches at once, in chunks of whole batches only where memory needs them)."""

    def __init__(self, attack: KEDMI, ctx: AttackContext):
        p, dev = attack.params, ctx.device
        self.p, self.device = p, dev
        self.gan = ctx.prior(PRIOR)
        self.identity_loss = attack.identity_loss(ctx)
        classes = torch.tensor(ctx.budget.classes)
        k, s = len(classes), ctx.budget.seeds
        self.y = classes.repeat(s).to(dev)  # one distribution per (seed, class), seed-major
        self.mu = torch.zeros(s * k, self.gan.dim_z, device=dev, requires_grad=True)
        self.log_var = torch.ones(s * k, self.gan.dim_z, device=dev, requires_grad=True)
        self.opt = torch.optim.Adam([self.mu, self.log_var], lr=p.lr)
        self.noise = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 11)
        # each seed's classes in batches of at most batch_identities, each batch's loss a mean over it
        batches = [min(p.batch_identities, k - start) for _ in range(s) for start in range(0, k, p.batch_identities)]
        self.weight = torch.cat([torch.full((b,), 1.0 / b) for b in batches]).to(dev)
        self.gradient = ChunkedGradient(len(self.mu), batches)

    def step(self) -> torch.Tensor:
        """One update of every distribution; returns each sample's loss before it."""
        p, gan, mu, log_var = self.p, self.gan, self.mu, self.log_var
        eps = torch.randn(mu.shape, generator=self.noise).to(self.device)

        def loss_of(rows: slice) -> torch.Tensor:
            x = gan.generator(reparameterize(mu[rows], log_var[rows], eps[rows]))
            disc_logits = torch.cat([gan.discriminator(x[batch])[1] for batch in self.gradient.groups_in(rows)])
            return realness_loss(disc_logits) + p.lam * self.identity_loss(x, self.y[rows])

        (mu.grad, log_var.grad), loss = self.gradient(loss_of, lambda chunk, rows: (chunk * self.weight[rows]).sum(),
                                                      [mu, log_var])
        self.opt.step()
        return loss
