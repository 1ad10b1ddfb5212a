"""GMI's public prior: a WGAN-GP on the public images (Zhang et al., CVPR 2020, section 3.1).

It never sees the target, so it is a ``scope = "public"`` prior: trained once per suite and
shared by every defense and every attack that requests ``gmi-wgan`` (GMI, BREP-MI, RLB-MI and
LOMMA on GMI in the field's code).

WGAN-GP (Gulrajani et al., 2017), as GMI's ``train_gan.py``:

- critic loss ``-(mean D(x) - mean D(G(z))) + 10 * mean_i (||grad_x^ D(x^_i)||_2 - 1)^2`` with
  ``x^ = x + a (G(z) - x)``, ``a ~ U(0, 1)`` per sample;
- generator loss ``-mean D(G(z))``, one generator step after every ``n_critic`` = 5 critic steps;
- Adam lr 2e-4, betas (0.5, 0.999), batch 64, ``z ~ N(0, I_100)``. The default of ``generator_steps``,
  18,750 (about 93,750 critic steps), is 200 epochs of the 30,000 public CelebA images; GMI's
  ``Celeba/celeba.json`` sets 280 epochs, about 26,000 generator steps (docs/protocol-card.md,
  ``priors.gmi-wgan``). A suite scales it as an ``iterations`` budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from mibench.components import param
from mibench.hotloops import HotLoop
from mibench.prior import Prior, PriorContext
from mibench.progress import progress
from mibench.tensors import as_float, cpu_state
from mibench.training import check_finite

from .networks import Critic, Generator


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``mean_i (||grad D(x^_i)||_2 - 1)^2`` at ``x^ = real + a (fake - real)``; ``a`` has one value per sample."""
    x = (real + a.view(-1, *[1] * (real.dim() - 1)) * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, penalty: torch.Tensor,
                gp_weight: float) -> torch.Tensor:
    """``-(mean D(x) - mean D(G(z))) + gp_weight * penalty``: minus the Wasserstein estimate, penalised."""
    return fake_scores.mean() - real_scores.mean() + gp_weight * penalty


class Alternating:
    """GMI's training schedule (KED-MI's too): one :meth:`step` is ``p.n_critic`` steps of ``D`` on
    ``loss_d()`` with ``G`` frozen, then one step of ``G`` on ``loss_g()`` with ``D`` frozen;
    Adam(``p.lr``, ``p.betas``) for both."""

    def __init__(self, G: nn.Module, D: nn.Module, p, loss_d: Callable[[], torch.Tensor],
                 loss_g: Callable[[], torch.Tensor]):
        self.G, self.D, self.p, self.loss_d, self.loss_g = G, D, p, loss_d, loss_g
        self.opt_g = torch.optim.Adam(G.parameters(), p.lr, betas=tuple(p.betas))
        self.opt_d = torch.optim.Adam(D.parameters(), p.lr, betas=tuple(p.betas))

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator step after its critic steps; returns the last critic loss and the generator's."""
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        for _ in range(self.p.n_critic):
            d = self.loss_d()
            self.opt_d.zero_grad(set_to_none=True)
            d.backward()
            self.opt_d.step()
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        g = self.loss_g()
        self.opt_g.zero_grad(set_to_none=True)
        g.backward()
        self.opt_g.step()
        return d, g


def train_alternating(G: nn.Module, D: nn.Module, p, loss_d: Callable[[], torch.Tensor],
                      loss_g: Callable[[], torch.Tensor], title: str, where: str) -> None:
    """``p.generator_steps`` steps of :class:`Alternating`. A non-finite loss stops it (``where``
    names the stage)."""
    trainer = Alternating(G, D, p, loss_d, loss_g)
    with progress(title, p.generator_steps) as advance:
        for step in range(p.generator_steps):
            d, g = trainer.step()
            check_finite([d.item(), g.item()], where, step)
            advance(loss_d=d.item(), loss_g=g.item())


def frozen(module: nn.Module) -> nn.Module:
    """``module`` in eval mode without gradients to its weights: a loaded prior's networks."""
    return module.eval().requires_grad_(False)


@dataclass
class WGAN:
    """The loaded prior: a generator of images in [0, 1] and the critic that scores them."""

    generator: Generator
    critic: Critic
    dim_z: int


class GMIWGAN(Prior):
    name = "gmi-wgan"
    version = "1"
    scope = "public"
    paper = "Zhang et al., The Secret Revealer: Generative Model-Inversion Attacks Against Deep Neural Networks, CVPR 2020"
    code = "https://github.com/AI-secure/GMI-Attack"

    @dataclass(frozen=True)
    class Params:
        width: int = param(64, min=1, help="features of the generator's last and the critic's first layer")
        dim_z: int = param(100, min=1)
        generator_steps: int = param(18750, budget="iterations", min=1)
        n_critic: int = param(5, min=1, help="critic steps per generator step")
        batch_size: int = param(64, min=2)
        lr: float = param(2e-4, min=0.0)
        betas: tuple[float, float] = (0.5, 0.999)
        gp_weight: float = param(10.0, min=0.0)

    def networks(self, ctx: PriorContext) -> tuple[Generator, Critic]:
        p = self.params
        return (Generator(ctx.image_shape, p.width, p.dim_z).to(ctx.device),
                Critic(ctx.image_shape, p.width).to(ctx.device))

    def train(self, ctx: PriorContext) -> dict[str, Any]:
        torch.manual_seed(ctx.seed)
        G, D = self.networks(ctx)
        train_alternating(G, D, self.params, *self.losses(ctx, G, D), "gmi-wgan: WGAN-GP on public data",
                          "prior gmi-wgan, stage WGAN-GP")
        return {"generator": cpu_state(G), "critic": cpu_state(D)}

    def hot_loops(self, ctx: PriorContext) -> dict[str, HotLoop]:
        """``critic+generator step``: ``n_critic`` WGAN-GP critic steps and one generator step
        (:class:`Alternating`); items: the batch."""
        G, D = self.networks(ctx)
        return {"critic+generator step": HotLoop(Alternating(G, D, self.params, *self.losses(ctx, G, D)).step,
                                                 self.params.batch_size)}

    def losses(self, ctx: PriorContext, G: Generator, D: Critic) -> tuple[Callable[[], torch.Tensor], ...]:
        """``(loss_d, loss_g)``: the critic's penalised loss and the generator's, on fresh batches of
        the public images and of z each call."""
        p, dev = self.params, ctx.device
        public = ctx.public.images.to(dev)

        def loss_d() -> torch.Tensor:
            real = as_float(public[torch.randint(0, len(public), (p.batch_size,), device=dev)])
            fake = G(torch.randn(p.batch_size, p.dim_z, device=dev))
            penalty = gradient_penalty(D, real, fake, torch.rand(p.batch_size, device=dev))
            return critic_loss(D(real), D(fake), penalty, p.gp_weight)

        def loss_g() -> torch.Tensor:
            return -D(G(torch.randn(p.batch_size, p.dim_z, device=dev))).mean()

        return loss_d, loss_g

    def load(self, state: dict[str, Any], ctx: PriorContext) -> WGAN:
        G, D = self.networks(ctx)
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["critic"])
        return WGAN(frozen(G), frozen(D), self.params.dim_z)
