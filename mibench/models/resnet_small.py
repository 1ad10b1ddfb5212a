"""A small pre-activation ResNet: the evaluator architecture of the low-resolution suites.

Three stages of ``blocks`` basic blocks (3x3 convs) at widths ``widths``, stride 2 between stages,
global average pooling, then a linear projection to ``feature_dim``; ``stem_stride`` 2 makes the
stem downsample (a quarter of the compute for 32-px digits). It is deeper and wider than
the targets it judges, the role the field gives FaceNet112 against 64-px targets.
Source of the block: He et al., Identity Mappings in Deep Residual Networks, ECCV 2016.
Stages (timm-style ``forward_intermediates``): the output of each width stage (its last block);
``layers()``: the stem conv, each residual block as one unit, the final BatchNorm and the Linear.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .classifier import Backbone, sequential_intermediates


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        h = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(h)
        h = self.conv1(h)
        return skip + self.conv2(F.relu(self.bn2(h)))


class ResNetSmall(Backbone):
    name = "resnet_small"
    version = "1"
    paper = "He et al., Identity Mappings in Deep Residual Networks, ECCV 2016"
    code = "https://github.com/KaimingHe/resnet-1k-layers"

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128), blocks: int = 2,
                 feature_dim: int = 128, stem_stride: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False)]
        cin, self._stage_ends, self.feature_info = widths[0], [], []
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(_Block(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
            self._stage_ends.append(len(layers) - 1)
            self.feature_info.append(dict(module=f"net.{len(layers) - 1}", num_chs=w, reduction=stem_stride * 2 ** i))
        layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, feature_dim)]
        self.net = nn.Sequential(*layers)
        self.feature_dim = feature_dim

    def forward(self, x):
        return self.net(x)

    def forward_intermediates(self, x):
        return sequential_intermediates(self.net, self._stage_ends, x)

    def layers(self):
        return [m for m in self.net if any(True for _ in m.parameters())]
