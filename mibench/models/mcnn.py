"""MCNN, the MNIST target of GMI and BiDO (docs/protocol-card.md, suite mnist, target).

The official network (GMI ``MNIST/classify.py``, BiDO ``BiDO/model.py``): conv 7x7/64 with padding
1 -> max-pool -> conv 5x5/128 -> max-pool -> conv 5x5/256, both 5x5 convs unpadded, each conv
followed by BatchNorm + LeakyReLU(0.2). On the 32 x 32 digits the maps are 28 -> 14 -> 10 -> 5 -> 1 x 1,
and the feature is the flattened 1 x 1 map (256-d at width 1), with no pooling; so MCNN takes
32 x 32 images only (up to 35 x 35 the last map is still 1 x 1) and refuses others by name.
``width`` scales every channel count (1.0 is the published network; a suite states the width it uses).
Source: GMI (github.com/sunblaze-ucb/GMI-attack), BiDO (github.com/AlanPeng0897/Defend_MI).
Stages (timm-style ``forward_intermediates``): the three conv blocks' outputs, after the max-pool for
the first two (14 x 14, 5 x 5 and 1 x 1 at 32 px: BiDO's hidden representations, the third being
the feature); ``layers()``: the three convs and BatchNorms in order.
"""

from __future__ import annotations

import torch
from torch import nn

from .classifier import Backbone, sequential_intermediates
from .layers import MaxPool2x2

SIDES = range(32, 36)
"""Input sides whose last map is 1 x 1 (32 -> 28 -> 14 -> 10 -> 5 -> 1)."""


def _conv(cin: int, cout: int, k: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=padding), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


class MCNN(Backbone):
    name = "mcnn"
    version = "2"  # 2: the official padding (1, 0, 0) and the flattened 1 x 1 map; 1 was same-padded, average-pooled
    paper = "Zhang et al., The Secret Revealer (GMI), CVPR 2020"
    code = "https://github.com/sunblaze-ucb/GMI-attack"

    def __init__(self, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (64, 128, 256))
        self.net = nn.Sequential(
            *_conv(in_channels, c1, 7, 1), MaxPool2x2(),
            *_conv(c1, c2, 5, 0), MaxPool2x2(),
            *_conv(c2, c3, 5, 0), nn.Flatten(),
        )
        self.feature_dim = c3
        self._stage_ends = (3, 7, 10)  # indices in ``net`` of each block's last module
        self.feature_info = [dict(module=f"net.{i}", num_chs=c, reduction=r)
                             for i, c, r in zip(self._stage_ends, (c1, c2, c3), (2, 4, 4))]

    @staticmethod
    def _check(x: torch.Tensor) -> None:
        if x.shape[-2] not in SIDES or x.shape[-1] not in SIDES:
            raise ValueError(f"MCNN takes 32 x 32 images (GMI's MNIST target: its unpadded convolutions end at a "
                             f"1 x 1 map, the feature), got {x.shape[-2]} x {x.shape[-1]}; give the suite 32-px "
                             f"images or another target architecture")

    def forward(self, x):
        self._check(x)
        return self.net(x)

    def forward_intermediates(self, x):
        self._check(x)
        return sequential_intermediates(self.net, self._stage_ends, x)

    def layers(self):
        return [m for m in self.net if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
