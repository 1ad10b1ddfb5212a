"""VGG16-BN at 64 px: the VGG16 target of celeba64 (GMI, KED-MI, PLG-MI).

Source: Simonyan & Zisserman, Very Deep Convolutional Networks (ICLR 2015); the convolutional part
is torchvision's ``vgg16_bn().features`` (13 conv-BN-ReLU layers, five max-pools: a 64-px input
leaves 512 x 2 x 2). KED-MI's ``VGG16`` classifier flattens it to 2,048 values, applies
``BatchNorm1d(2048)`` without shift (its bias frozen at 0) and a linear head: the penultimate
feature is that normalised 2,048-d vector. Names follow KED-MI's checkpoints (``feature.*``,
``bn.*``; the head ``fc_layer`` becomes ``head`` in :mod:`mibench.checkpoints`).
The field initialises the convolutions from ImageNet; without those weights it trains from scratch
(the suite's record says which). Stages: the output of each max-pool; ``layers()``: each conv and
batch-norm of ``feature``, then ``bn``.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from .classifier import Backbone, sequential_intermediates


class VGG16BN64(Backbone):
    name = "vgg16_bn_64"
    version = "1"
    paper = "Simonyan & Zisserman, ICLR 2015; the VGG16 target of KED-MI (ICCV 2021) and PLG-MI (AAAI 2023)"
    code = "https://github.com/pytorch/vision (torchvision.models.vgg16_bn); KED-MI models/classify.py"

    def __init__(self):
        super().__init__()
        self.feature = make_layers(cfgs["D"], batch_norm=True)  # vgg16_bn().features, without its 120M-weight head
        for m in self.feature.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.feature_dim = 512 * 2 * 2
        self.bn = nn.BatchNorm1d(self.feature_dim)
        self.bn.bias.requires_grad_(False)  # no shift, as KED-MI
        self._pools = [i for i, m in enumerate(self.feature) if isinstance(m, nn.MaxPool2d)]
        self.feature_info = [dict(module=f"feature.{i}", num_chs=512 if k >= 3 else 64 * 2 ** k, reduction=2 ** (k + 1))
                             for k, i in enumerate(self._pools)]

    def forward(self, x):
        return self.bn(self.feature(x).flatten(1))

    def forward_intermediates(self, x):
        x, hidden = sequential_intermediates(self.feature, self._pools, x)
        return self.bn(x.flatten(1)), hidden

    def layers(self):
        return [m for m in self.feature if any(True for _ in m.parameters())] + [self.bn]
