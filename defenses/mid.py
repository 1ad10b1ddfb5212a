"""MID: mutual-information regularisation through a variational information bottleneck.

Paper: Wang, Kong, Zhang, Cheng, Jia, "Improving Robustness to Model Inversion Attacks via Mutual
Information Regularization", AAAI 2021; code github.com/Jiachen-T-Wang/mi-defense.
docs/protocol-card.md, ``defenses.mid``.

The final linear layer (d -> C) is replaced by a VIB head with k = d // 2 latent dimensions::

    s = Linear(d, 2k)(h);   mu = s[:k];   sigma = softplus(s[k:] - 5)
    z = mu + sigma * eps,   eps ~ N(0, I)          (training)
    logits = Linear(k, C)(z)

and the target is trained with

    L = CE(logits, y) + beta * KL(N(mu, sigma^2) || N(0, I)),
    KL = 0.5 * sum_k (mu^2 + sigma^2 - 1 - log sigma^2)   (summed over k, mean over the batch),

the variational upper bound on I(X; Z) that limits how much of the input the prediction carries.

Inference: in eval mode the deployed model outputs the logits of the mean, z = mu (deterministic,
the usual choice for utility), and that is what the attacker queries. MIBench samples z at test
time instead (stochastic predictions); that deployment is not modelled here.

Strength knob: ``beta``. 0.003 is the paper's value (VGG16, CelebA); BiDO's code uses 0.2 for the
MNIST MCNN, MIBench defaults to 0.01 and CALoR compares 0.001-0.01.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mibench.components import param
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.hotloops import HotLoop
from mibench.models import Classifier


class VIBHead(nn.Module):
    """``Linear(d, 2k)`` -> (mu, sigma) -> z -> ``Linear(k, C)``; ``forward`` returns logits only."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.k = max(1, feature_dim // 2)
        self.stats = nn.Linear(feature_dim, 2 * self.k)
        self.classify = nn.Linear(self.k, num_classes)

    def forward_stats(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, mu, sigma)``; z is sampled in training mode and is ``mu`` in eval mode."""
        s = self.stats(h)
        mu, sigma = s[:, :self.k], F.softplus(s[:, self.k:] - 5)
        z = mu + sigma * torch.randn_like(sigma) if self.training else mu
        return self.classify(z), mu, sigma

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.forward_stats(h)[0]


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions, mean over the batch."""
    return (0.5 * (mu ** 2 + sigma ** 2 - 1 - 2 * torch.log(sigma))).sum(1).mean()


class MID(Defense):
    name = "mid"
    version = "1"
    paper = ("Wang et al., Improving Robustness to Model Inversion Attacks via Mutual Information "
             "Regularization, AAAI 2021")
    code = "https://github.com/Jiachen-T-Wang/mi-defense"
    ladder = Ladder.of("beta", (0.001, 0.003, 0.01, 0.03, 0.1, 0.2))

    @dataclass(frozen=True)
    class Params:
        beta: float = param(0.003, min=0.0, help="weight of the KL (information) term; 0.003 in the paper (CelebA)")

    def head(self, feature_dim: int, num_classes: int) -> nn.Module:
        return VIBHead(feature_dim, num_classes)

    def loss(self, model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, mu, sigma = model.head.forward_stats(model.backbone(x))
        return F.cross_entropy(logits, y) + self.params.beta * gaussian_kl(mu, sigma)

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``train step``: one step on CE + beta KL with z sampled by the VIB head (reparameterised)."""
        return {"train step": self.train_step(ctx)}
