"""KED-MI's discriminator (Chen et al., ICCV 2021; github.com/SCccc21/Knowledge-Enriched-DMI).

:class:`MinibatchDiscriminator`: GMI's critic body (stride-2 5 x 5 convolutions, instance norm,
LeakyReLU(0.2)) flattened to a feature f, then minibatch discrimination (Salimans et al., 2016)
appended to f, then a linear layer to K class logits. Real versus fake is read from the logits'
log-sum-exp (the K + 1-class GAN with the fake class's logit fixed at 0). ``forward`` returns
``(f, logits)``: KED-MI's generator matches the mean of f between fakes and public images.
The generator is GMI's (:class:`mibench.attacks.gmi.networks.Generator`).
"""

from __future__ import annotations

import torch
from torch import nn

from mibench.attacks.gmi.networks import _levels


class MinibatchDiscrimination(nn.Module):
    """``o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1)`` with ``M_i = x_i T`` (B kernels of C dims)
    appended to ``x_i``."""

    def __init__(self, in_features: int, kernels: int = 64, kernel_dim: int = 50):
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim))
        self.kernels, self.kernel_dim = kernels, kernel_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.T).view(len(x), self.kernels, self.kernel_dim).transpose(0, 1)  # B x N x C
        distance = torch.cdist(m, m, p=1)  # B x N x N, without the N x N x B x C difference tensor
        return torch.cat([x, torch.exp(-distance).sum(2).T - 1], 1)  # minus exp(0) = 1: j = i


class MinibatchDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 64, kernels: int = 64,
                 kernel_dim: int = 50):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        widths = [width * 2 ** i for i in range(_levels(size))]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 5, 2, 2), nn.LeakyReLU(0.2)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 5, 2, 2), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        features = widths[-1] * 16
        self.minibatch = MinibatchDiscrimination(features, kernels, kernel_dim)
        self.classifier = nn.Linear(features + kernels, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.classifier(self.minibatch(f))
