"""MID: mutual-information regularisation through a variational information bottleneck.

Paper: Wang, Kong, Zhang, Cheng, Jia, "Improving Robustness to Model Inversion Attacks via Mutual
Information Regularization", AAAI 2021; code github.com/Jiachen-T-Wang/mi-defense.
docs/protocol-card.md, ``defenses.mid``.

The final linear layer (d -> C) is replaced by a VIB head with k = d // 2 latent dimensions::

    s = Linear(d, 2k)(h);   mu = s[:k];   sigma = softplus(s[k:] - 5)
    z = mu + sigma * eps,   eps ~ N(0, I)
    logits = Linear(k, C)(z)

and the target is trained with

    L = CE(logits, y) + beta * KL(N(mu, sigma^2) || N(0, I)),
    KL = 0.5 * sum_k (mu^2 + sigma^2 - 1 - log sigma^2)   (summed over k, mean over the batch),

the variational upper bound on I(X; Z) that limits how much of the input the prediction carries.

Inference (``Params.inference``; docs/protocol-card.md, ``defenses.mid``):

- ``"sample"`` (default, the official deployment): z = mu + sigma * eps at test time too, as
  mi-defense's ``VGG16_vib.forward``/``predict``, BiDO's ``MCNN_vib`` and the MIBench toolbox's
  ``VibWrapper`` do, so every attack queries a noisy oracle (fresh noise per query);
- ``"mean"``: z = mu in eval mode, a deterministic variant (mibench's deployment before version 2).

Training always samples z from the global torch RNG (reparameterised), as before. At test time eps
comes from the head's own ``torch.Generator``, which the pipeline re-seeds through the generic
``reseed(seed)`` hook (:func:`mibench.access.reseed`): from the suite's train seed for natural
accuracy and from the run seed for the attack's view, so a record reproduces. The generator draws
uniforms, one pair per latent in row order, turned into normals by Box-Muller: torch's CPU
``uniform_`` consumes the stream one value per element whatever the tensor's size (``randn`` does
not: its vectorised fill pairs values across blocks of 16), so a batch queried in chunks of any
size gets exactly the noise it gets in one call, and BREP-MI's chunks of 128 rows on a CPU
(``map_rows``) exactly its logits (sigma's softplus kernel is bit-identical across chunks whose sizes
are multiples of the CPU's vector width, which 128 rows always are). A retried chunk
(``ChunkedGradient`` after an out-of-memory error) draws fresh noise, as a repeated query does. The
noise is drawn on the CPU and moved to the model's device: the same eps on every device. The record's ``natural_acc`` is
the sampled path's; the mean path's is ``components["defense"]["natural_acc_mean"]``.

Strength knob: ``beta``. 0.003 is the paper's value (VGG16, CelebA); BiDO's code uses 0.2 for the
MNIST MCNN, MIBench defaults to 0.01 and CALoR compares 0.001-0.01.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mibench.claims import Defends
from mibench.components import param
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.hotloops import HotLoop
from mibench.models import Classifier


def row_normals(rows: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``(rows, k)`` standard normals from ``generator`` (CPU), the same whether drawn at once or a
    few rows at a time: two uniforms per value in row order (``uniform_`` takes one value of the
    stream per element), Box-Muller on each pair."""
    u = torch.rand(rows, k, 2, generator=generator)
    return torch.sqrt(-2 * torch.log1p(-u[..., 0])) * torch.cos(2 * math.pi * u[..., 1])


class VIBHead(nn.Module):
    """``Linear(d, 2k)`` -> (mu, sigma) -> z -> ``Linear(k, C)``; ``forward`` returns logits only.

    ``sample``: whether eval mode samples z (the deployed model) or uses ``mu``. Eval-mode noise
    comes from :attr:`noise`, seeded by :meth:`reseed` (the pipeline's hook for stochastic modules,
    :func:`mibench.access.reseed`); it is not part of the state dict."""

    def __init__(self, feature_dim: int, num_classes: int, sample: bool = False):
        super().__init__()
        self.k = max(1, feature_dim // 2)
        self.stats = nn.Linear(feature_dim, 2 * self.k)
        self.classify = nn.Linear(self.k, num_classes)
        self.sample = sample
        self.noise = torch.Generator().manual_seed(0)

    def reseed(self, seed: int) -> None:
        """Restart the eval-mode noise: the outputs that follow are a function of ``seed``."""
        self.noise.manual_seed(seed)

    def forward_stats(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, mu, sigma)``; z is sampled in training mode (global RNG) and, with ``sample``,
        in eval mode (:attr:`noise`); else it is ``mu``."""
        s = self.stats(h)
        mu, sigma = s[:, :self.k], F.softplus(s[:, self.k:] - 5)
        if self.training:
            z = mu + sigma * torch.randn_like(sigma)
        elif self.sample:
            eps = row_normals(len(sigma), self.k, self.noise).to(device=sigma.device, dtype=sigma.dtype)
            z = mu + sigma * eps
        else:
            z = mu
        return self.classify(z), mu, sigma

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.forward_stats(h)[0]


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions, mean over the batch."""
    return (0.5 * (mu ** 2 + sigma ** 2 - 1 - 2 * torch.log(sigma))).sum(1).mean()


class MID(Defense):
    name = "mid"
    version = "2"
    paper = ("Wang et al., Improving Robustness to Model Inversion Attacks via Mutual Information "
             "Regularization, AAAI 2021")
    code = "https://github.com/Jiachen-T-Wang/mi-defense"
    claims = (Defends("limiting the mutual information between input and prediction lowers the attacks' accuracy"),)
    ladder = Ladder.of("beta", (0.001, 0.003, 0.01, 0.03, 0.1, 0.2))

    @dataclass(frozen=True)
    class Params:
        beta: float = param(0.003, min=0.0, help="weight of the KL (information) term; 0.003 in the paper (CelebA)")
        inference: str = param("sample", choices=("sample", "mean"),
                               help="test-time z: 'sample' mu + sigma * eps (the official deployment, a noisy "
                                    "oracle) or 'mean' mu (deterministic)")

    def head(self, feature_dim: int, num_classes: int) -> nn.Module:
        return VIBHead(feature_dim, num_classes, sample=self.params.inference == "sample")

    def loss(self, model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, mu, sigma = model.head.forward_stats(model.backbone(x))
        return F.cross_entropy(logits, y) + self.params.beta * gaussian_kl(mu, sigma)

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``train step``: one step on CE + beta KL with z sampled by the VIB head (reparameterised)."""
        return {"train step": self.train_step(ctx)}
