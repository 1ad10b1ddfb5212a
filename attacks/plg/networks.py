"""PLG-MI's conditional GAN: an SNGAN ResNet generator with conditional BatchNorm and a
spectral-norm ResNet discriminator with a projection head (Miyato & Koyama, cGANs with
Projection Discriminator, ICLR 2018), laid out as github.com/LetheSec/PLG-MI-Attack's
``models/generators/resnet64.py`` (``ResNetGenerator``), ``models/discriminators/snresnet64.py``
(``SNResNetProjectionDiscriminator``) and their ``resblocks.py`` (docs/protocol-card.md,
``attacks.plg``).

- Generator: ``z`` (128) -> linear to ``16 width`` features at ``bottom`` x ``bottom`` -> four
  up-blocks (16w -> 8w -> 4w -> 2w -> w; each: conditional BN, ReLU, **bilinear** x2 upsampling,
  3x3 conv, conditional BN, ReLU, 3x3 conv; shortcut: bilinear x2 then a 1x1 conv) -> BN, ReLU,
  **1x1** conv to the image channels, tanh. ``bottom`` = image size / 16: 4 at 64 px (the
  official ``gen_bottom_width``), 2 at 32 px, 1 at 16 px. PyTorch's default initialisation: the
  official ``_initialize`` methods of the generator are never called.
- Discriminator: five blocks of widths w, 2w, 4w, 8w, 16w, each halving the resolution (64 px ->
  2 x 2, 32 px -> 1 x 1). The first is SNGAN's optimised block (conv, ReLU, conv, pool; shortcut:
  pool then 1x1 conv); the others are ReLU, 3x3 conv **in -> in**, ReLU, 3x3 conv in -> out, pool
  (the official ``h_ch`` = input width); shortcut: 1x1 conv then pool. Then ReLU, a sum over
  space, ``linear(h) + <embed(y), h>``. Xavier-uniform initialisation (gain sqrt 2 on the 3x3
  convs, 1 on the shortcuts, the linear head and the embedding), spectral norm everywhere, as the
  official code.

Only the width (``width``: 64 in the paper) is a parameter. At 16 px (the ``tiny`` test suite)
the fifth block cannot halve a 1 x 1 map, so a block only downsamples while the map is larger than
1 x 1 (no effect at 32 or 64 px).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as sn

UP_BLOCKS = 4
"""Generator up-blocks (``resnet64.py`` block2-block5); the bottom is image size / 2**4."""
DOWN_BLOCKS = 5
"""Discriminator blocks (``snresnet64.py`` block1-block5)."""


def upsample(x: torch.Tensor) -> torch.Tensor:
    """x2 bilinear upsampling (``resblocks.py`` ``_upsample``: ``F.interpolate(mode='bilinear')``)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


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
    """The official generator ``Block`` with ``upsample=True`` (hidden width = output width)."""

    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.b1, self.c1 = ConditionalBatchNorm2d(cin, num_classes), nn.Conv2d(cin, cout, 3, 1, 1)
        self.b2, self.c2 = ConditionalBatchNorm2d(cout, num_classes), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.c1(upsample(F.relu(self.b1(x, y))))
        h = self.c2(F.relu(self.b2(h, y)))
        return h + self.skip(upsample(x))


class Generator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int = 64, dim_z: int = 128):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        bottom = size // 2 ** UP_BLOCKS
        if bottom < 1 or bottom * 2 ** UP_BLOCKS != size:
            raise ValueError(f"image size {size} is not a multiple of {2 ** UP_BLOCKS}")
        widths = [width * 2 ** (UP_BLOCKS - i) for i in range(UP_BLOCKS + 1)]  # 16w, 8w, 4w, 2w, w
        self.dim_z, self.bottom, self.num_classes = dim_z, bottom, num_classes
        self.fc = nn.Linear(dim_z, widths[0] * bottom * bottom)
        self.blocks = nn.ModuleList(GeneratorBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """tanh output in [-1, 1], used as an image as it comes (PLG-MI trains it on [0, 1] images)."""
        h = self.fc(z).view(len(z), -1, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


def _xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """Xavier-uniform init of a spectral-normed module's weight (its ``weight_orig``)."""
    nn.init.xavier_uniform_(module.weight_orig, gain)
    return module


class DiscriminatorBlock(nn.Module):
    """The official ``OptimizedBlock`` (``first``) or ``Block`` with ``h_ch`` = ``cin``."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        hidden = cout if first else cin
        self.c1 = _xavier(sn(nn.Conv2d(cin, hidden, 3, 1, 1)), math.sqrt(2))
        self.c2 = _xavier(sn(nn.Conv2d(hidden, cout, 3, 1, 1)), math.sqrt(2))
        self.skip = _xavier(sn(nn.Conv2d(cin, cout, 1))) if (first or cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.skip is None:
            return h + x
        if self.first:  # SNGAN's optimized first block: pool, then 1x1 conv
            return h + self.skip(F.avg_pool2d(x, 2) if self.down else x)
        s = self.skip(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        channels, size = image_shape[0], image_shape[1]
        widths = [width * 2 ** i for i in range(DOWN_BLOCKS)]  # w, 2w, 4w, 8w, 16w
        blocks, cin = [], channels
        for i, cout in enumerate(widths):
            down = size > 1  # every block halves the map (64 px -> 2 x 2); none below 1 x 1
            blocks.append(DiscriminatorBlock(cin, cout, down=down, first=i == 0))
            cin, size = cout, size // 2 if down else size
        self.blocks = nn.Sequential(*blocks)
        self.linear = _xavier(sn(nn.Linear(widths[-1], 1)))
        self.embed = _xavier(sn(nn.Embedding(num_classes, widths[-1])))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unbounded score per image: ``linear(h) + <embed(y), h>``."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
