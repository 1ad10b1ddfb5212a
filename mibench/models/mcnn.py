"""MCNN, the MNIST target of GMI and BiDO (docs/protocol-card.md, suite mnist, target).

conv 7x7/64 -> max-pool -> conv 5x5/128 -> max-pool -> conv 5x5/256, each followed by
BatchNorm + LeakyReLU(0.2); global average pooling gives the 256-d feature. ``width`` scales every
channel count (1.0 is the published network; a suite states the width it uses).
Source: GMI (github.com/sunblaze-ucb/GMI-attack), BiDO (github.com/AlanPeng0897/Defend_MI).
Unlike theirs, the convolutions are same-padded and the last map (8 x 8 at 32 px) is average-pooled,
where the official MCNN's unpadded convolutions end at 1 x 1 with no pooling (docs/protocol-card.md,
known deviation 4, to be fixed in protocol v3).
Stages (timm-style ``forward_intermediates``): the three conv blocks' outputs, after the max-pool for
the first two (BiDO's hidden representations); ``layers()``: the three convs and BatchNorms in order.
"""

from __future__ import annotations

from torch import nn

from .classifier import Backbone, sequential_intermediates
from .layers import MaxPool2x2


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


class MCNN(Backbone):
    name = "mcnn"
    version = "1"
    paper = "Zhang et al., The Secret Revealer (GMI), CVPR 2020"
    code = "https://github.com/sunblaze-ucb/GMI-attack"

    def __init__(self, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (64, 128, 256))
        self.net = nn.Sequential(
            *_conv(in_channels, c1, 7), MaxPool2x2(),
            *_conv(c1, c2, 5), MaxPool2x2(),
            *_conv(c2, c3, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.feature_dim = c3
        self._stage_ends = (3, 7, 10)  # indices in ``net`` of each block's last module
        self.feature_info = [dict(module=f"net.{i}", num_chs=c, reduction=r)
                             for i, c, r in zip(self._stage_ends, (c1, c2, c3), (2, 4, 4))]

    def forward(self, x):
        return self.net(x)

    def forward_intermediates(self, x):
        return sequential_intermediates(self.net, self._stage_ends, x)

    def layers(self):
        return [m for m in self.net if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
