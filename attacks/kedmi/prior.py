"""KED-MI's inversion-specific GAN (Chen et al., ICCV 2021, section 3.1), a target-scoped prior.

Its discriminator is a K-class classifier trained with the target's soft labels on the public
images, so the GAN depends on the target: it is keyed by the target and trained once per target
(``scope = "target"``). Losses, as KED-MI's ``k+1_gan.py`` (x, x_u, x_u2: three independent
batches of public images; l(.) the discriminator's logits; lse the log-sum-exp over classes):

- discriminator: ``L_lab + L_unlab`` with
  ``L_lab = -mean_x sum_k p_T(k | x) log softmax(l(x))_k`` (the target's soft labels) and
  ``L_unlab = 0.5 (mean softplus(lse l(x_u)) - mean lse l(x_u) + mean softplus(lse l(G(z))))``
  (real: ``D(x) = sigma(lse l(x))``, the K + 1-class GAN of Salimans et al., 2016);
- generator, every ``n_critic`` discriminator steps: feature matching
  ``mean_d |mean_i f(G(z_i))_d - mean_i f(x_u2,i)_d| + 1e-4 * H`` with H the summed entropy of
  softmax(l(G(z))) over the batch.

Adam lr 2e-4, betas (0.5, 0.999), batch 64, n_critic 5, z ~ N(0, I_100), GMI's generator. The
soft labels are the target's softmax probabilities, as the paper states (the official script
passes the target's last output, which for its classifiers is the logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from mibench.attacks.gmi.networks import Generator
from mibench.attacks.gmi.prior import Alternating, frozen, train_alternating
from mibench.components import param
from mibench.hotloops import HotLoop
from mibench.prior import Prior, PriorContext
from mibench.tensors import as_float, cpu_state

from .networks import MinibatchDiscriminator


def soft_cross_entropy(logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``-mean_i sum_k p_ik log softmax(logits_i)_k``."""
    return -(probs * F.log_softmax(logits, 1)).sum() / len(logits)


def unlabeled_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``0.5 (mean softplus(lse real) - mean lse real + mean softplus(lse fake))``: the K + 1-class
    GAN's real/fake loss, i.e. ``-log D(x) - log(1 - D(G(z)))`` with ``D = sigma(lse)``, halved."""
    lse_real, lse_fake = real_logits.logsumexp(1), fake_logits.logsumexp(1)
    return 0.5 * (F.softplus(lse_real).mean() - lse_real.mean() + F.softplus(lse_fake).mean())


def feature_matching(fake_features: torch.Tensor, real_features: torch.Tensor) -> torch.Tensor:
    """``mean_d |mean_i f_fake,id - mean_i f_real,id|``."""
    return (fake_features.mean(0) - real_features.mean(0)).abs().mean()


def entropy_sum(logits: torch.Tensor) -> torch.Tensor:
    """``-sum_i sum_k p_ik log p_ik`` with p = softmax(logits)."""
    return -(F.softmax(logits, 1) * F.log_softmax(logits, 1)).sum()


def soft_labels(view, x: torch.Tensor) -> torch.Tensor:
    """The target's probabilities through the requesting attack's view (white-box or black-box)."""
    with torch.no_grad():
        return view.probs(x) if hasattr(view, "probs") else view.logits(x).softmax(1)


@dataclass
class KEDGAN:
    generator: Generator
    discriminator: MinibatchDiscriminator
    dim_z: int


class KEDMIGAN(Prior):
    name = "kedmi-gan"
    version = "1"
    scope = "target"
    paper = "Chen et al., Knowledge-Enriched Distributional Model Inversion Attacks, ICCV 2021"
    code = "https://github.com/SCccc21/Knowledge-Enriched-DMI"

    @dataclass(frozen=True)
    class Params:
        width: int = param(64, min=1)
        dim_z: int = param(100, min=1)
        generator_steps: int = param(18750, budget="iterations", min=1)
        n_critic: int = param(5, min=1)
        batch_size: int = param(64, min=2)
        lr: float = param(2e-4, min=0.0)
        betas: tuple[float, float] = (0.5, 0.999)
        entropy_weight: float = param(1e-4, min=0.0)

    def networks(self, ctx: PriorContext) -> tuple[Generator, MinibatchDiscriminator]:
        p = self.params
        return (Generator(ctx.image_shape, p.width, p.dim_z).to(ctx.device),
                MinibatchDiscriminator(ctx.image_shape, ctx.num_classes, p.width).to(ctx.device))

    def train(self, ctx: PriorContext) -> dict[str, Any]:
        torch.manual_seed(ctx.seed)
        G, D = self.networks(ctx)
        train_alternating(G, D, self.params, *self.losses(ctx, G, D), "kedmi-gan: semi-supervised GAN on public data",
                          "prior kedmi-gan, stage GAN")
        return {"generator": cpu_state(G), "discriminator": cpu_state(D)}

    def hot_loops(self, ctx: PriorContext) -> dict[str, HotLoop]:
        """``discriminator+generator step``: ``n_critic`` discriminator steps (the target's soft
        labels and the real/fake loss) and one feature-matching generator step; items: the batch."""
        G, D = self.networks(ctx)
        return {"discriminator+generator step": HotLoop(
            Alternating(G, D, self.params, *self.losses(ctx, G, D)).step, self.params.batch_size)}

    def losses(self, ctx: PriorContext, G: Generator,
               D: MinibatchDiscriminator) -> tuple[Callable[[], torch.Tensor], ...]:
        """``(loss_d, loss_g)``: the discriminator's and the generator's losses on fresh batches of the
        public images and of z each call."""
        p, dev = self.params, ctx.device
        public = ctx.public.images.to(dev)

        def batch() -> torch.Tensor:
            return as_float(public[torch.randint(0, len(public), (p.batch_size,), device=dev)])

        def loss_d() -> torch.Tensor:
            x, x_u = batch(), batch()
            soft = soft_labels(ctx.target, x)
            fake = G(torch.randn(p.batch_size, p.dim_z, device=dev))
            return soft_cross_entropy(D(x)[1], soft) + unlabeled_loss(D(x_u)[1], D(fake)[1])

        def loss_g() -> torch.Tensor:
            f_fake, l_fake = D(G(torch.randn(p.batch_size, p.dim_z, device=dev)))
            return feature_matching(f_fake, D(batch())[0]) + p.entropy_weight * entropy_sum(l_fake)

        return loss_d, loss_g

    def load(self, state: dict[str, Any], ctx: PriorContext) -> KEDGAN:
        G, D = self.networks(ctx)
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        return KEDGAN(frozen(G), frozen(D), self.params.dim_z)
