"""GMI's WGAN-GP networks (Zhang et al., CVPR 2020; github.com/AI-secure/GMI-Attack).

- :class:`Generator`: ``Linear(z, 4 * 4 * c0)`` + BatchNorm1d + ReLU, then stride-2 5 x 5
  transposed convolutions (BatchNorm2d + ReLU) halving the channels at each doubling of the size,
  and a last transposed convolution to the image channels with a sigmoid (images in [0, 1]).
  At 64 px ``c0 = 8 * width`` (GMI's ``Generator``), at 32 px ``c0 = 4 * width`` (its
  ``GeneratorMNIST``); ``width = 64``, ``z = 100`` in the paper.
- :class:`Critic`: stride-2 5 x 5 convolutions doubling the channels from ``width``, instance norm
  (affine) and LeakyReLU(0.2) after every one but the first, and a 4 x 4 convolution to one score
  (GMI's ``DGWGAN`` at 64 px, ``DGWGAN32`` at 32 px). No batch norm: the gradient penalty is per
  sample.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _levels(size: int, bottom: int = 4) -> int:
    levels = int(math.log2(size // bottom))
    if bottom * 2 ** levels != size:
        raise ValueError(f"image size {size} is not {bottom} x a power of two")
    return levels


class Generator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], width: int = 64, dim_z: int = 100):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        levels = _levels(size)
        widths = [width * 2 ** (levels - 1 - i) for i in range(levels)]  # e.g. 4w, 2w, w at 32 px
        self.dim_z = dim_z
        self.head = nn.Sequential(nn.Linear(dim_z, widths[0] * 16, bias=False), nn.BatchNorm1d(widths[0] * 16),
                                  nn.ReLU())
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 5, 2, padding=2, output_padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1]."""
        return self.body(self.head(z).view(len(z), -1, 4, 4))


class Critic(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        widths = [width * 2 ** i for i in range(_levels(size))]  # e.g. w, 2w, 4w at 32 px
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 5, 2, 2), nn.LeakyReLU(0.2)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 5, 2, 2), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(widths[-1], 1, 4))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One unbounded score per image (higher: more like the public data)."""
        return self.body(x).view(len(x))
