"""Losses of PLG-MI (Yuan et al., AAAI 2023; github.com/LetheSec/PLG-MI-Attack)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def max_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample max-margin loss ``-l_y + max_{j != y} l_j`` (PLG-MI eq. 5); shape N."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.max(1).values - true


def hinge_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_generator(d_fake: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]``."""
    return -d_fake.mean()
