"""PLG-MI's conditional GAN: an SNGAN ResNet generator with conditional BatchNorm and a
spectral-norm ResNet discriminator with a projection head (Miyato & Koyama, cGANs with
Projection Discriminator, ICLR 2018), as used by github.com/LetheSec/PLG-MI-Attack.

Sizes follow PLG-MI: latent 128, ``width`` features (64 in the paper) multiplied by 2 per level
towards the 4 x 4 bottom, tanh output. The number of up/down-sampling blocks follows the image
size (3 for 32 px, 4 for 64 px).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as sn


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine parameters, then a per-class scale (init 1) and shift (init 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.gamma(y)[:, :, None, None] * self.bn(x) + self.beta(y)[:, :, None, None]


class GeneratorBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.b1, self.c1 = ConditionalBatchNorm2d(cin, num_classes), nn.Conv2d(cin, cout, 3, 1, 1)
        self.b2, self.c2 = ConditionalBatchNorm2d(cout, num_classes), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)
        for conv in (self.c1, self.c2):
            nn.init.xavier_uniform_(conv.weight, math.sqrt(2))
        nn.init.xavier_uniform_(self.skip.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.b1(x, y)), scale_factor=2)
        h = self.c2(F.relu(self.b2(self.c1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class Generator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int = 64, dim_z: int = 128,
                 bottom: int = 4):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        levels = int(math.log2(size // bottom))
        if bottom * 2 ** levels != size:
            raise ValueError(f"image size {size} is not {bottom} x a power of two")
        widths = [width * 2 ** (levels - i) for i in range(levels + 1)]  # e.g. 8w, 4w, 2w, w for 32 px
        self.dim_z, self.bottom, self.num_classes = dim_z, bottom, num_classes
        self.fc = nn.Linear(dim_z, widths[0] * bottom * bottom)
        self.blocks = nn.ModuleList(GeneratorBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.xavier_uniform_(self.out_conv.weight)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1]."""
        h = self.fc(z).view(len(z), -1, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class DiscriminatorBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        self.c1, self.c2 = sn(nn.Conv2d(cin, cout, 3, 1, 1)), sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = sn(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.skip is None:
            return h + x
        if self.first:  # SNGAN's optimized first block: pool, then 1x1 conv
            return h + self.skip(F.avg_pool2d(x, 2))
        s = self.skip(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int = 64, bottom: int = 4):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        levels = int(math.log2(size // bottom))
        widths = [width * 2 ** i for i in range(levels + 1)]  # e.g. w, 2w, 4w, 8w for 32 px
        blocks = [DiscriminatorBlock(channels, widths[0], down=True, first=True)]
        blocks += [DiscriminatorBlock(a, b, down=i < levels - 1) for i, (a, b) in enumerate(zip(widths, widths[1:]))]
        self.blocks = nn.Sequential(*blocks)
        self.linear = sn(nn.Linear(widths[-1], 1))
        self.embed = sn(nn.Embedding(num_classes, widths[-1]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unbounded score per image: ``linear(h) + <embed(y), h>``."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
