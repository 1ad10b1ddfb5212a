"""IR-ResNets of face.evoLVe: the IR-152 and FaceNet64 targets and the FaceNet112 judge of celeba64.

Source: Deng et al., ArcFace (CVPR 2019), Sec. 3 "improved residual unit" (BN-Conv-PReLU-Conv-BN,
stride on the second conv); the definitions of face.evoLVe (``backbone/model_irse.py``), which
KED-MI, PLG-MI and MIBench copy (``evolve.py``). Parameter names, shapes and order are those of the
published checkpoints, so that :mod:`mibench.checkpoints` loads them with a fixed rename
(``fc_layer.`` -> ``head.``, everything else under ``backbone.``):

- ``feature.input_layer``: Conv3x3(3 -> 64) - BN - PReLU, stride 1;
- ``feature.body``: the residual units (50 layers: 3, 4, 14, 3 units at 64, 128, 256, 512
  channels; 152 layers: 3, 8, 36, 3), the first unit of each stage of stride 2; a unit's
  ``shortcut_layer`` is MaxPool2d(1, stride) when the width is kept, else Conv1x1 - BN; its
  ``res_layer`` is BN - Conv3x3 - PReLU - Conv3x3(stride) - BN;
- the output layer BN2d - Dropout - Flatten - Linear(512 x s x s -> 512) - BN1d, with s = 4 at 64 px
  and 7 at 112 px. The 64-px classifiers of KED-MI (``IR152``, ``FaceNet64``) hold it beside the
  trunk (``output_layer``); the 112-px ``FaceNet`` judge holds it inside (``feature.output_layer``).

The penultimate feature (``feature_dim`` 512) is the output layer's; the classifier's head is
``Linear(512, classes)``, published as ``fc_layer``. Inputs are images in [0, 1] (the field's
loaders apply no normalisation). ``FaceNet112`` resizes its 64-px inputs to 112 px bilinearly
inside the model, as the field evaluates 64-px reconstructions with the 112-px judge.
Stages (timm-style ``forward_intermediates``): the output of each of the four widths; ``layers()``:
the input layer, each residual unit, the output layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import Backbone

UNITS = {50: (3, 4, 14, 3), 152: (3, 8, 36, 3)}
WIDTHS = (64, 128, 256, 512)


class IRUnit(nn.Module):
    """``res_layer(x) + shortcut_layer(x)`` (face.evoLVe's ``bottleneck_IR``)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.shortcut_layer = (nn.MaxPool2d(1, stride) if cin == cout else
                               nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.PReLU(cout),
                                       nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


def output_layer(side: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(), nn.Flatten(), nn.Linear(512 * side * side, 512),
                         nn.BatchNorm1d(512))


class IRTrunk(nn.Module):
    """face.evoLVe's ``Backbone``: ``input_layer``, ``body`` and, when ``side`` is given, ``output_layer``."""

    def __init__(self, depth: int, side: int | None = None):
        super().__init__()
        if depth not in UNITS:
            raise ValueError(f"IR depth must be one of {sorted(UNITS)}, got {depth}")
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units, cin, self.stage_ends = [], 64, []
        for width, count in zip(WIDTHS, UNITS[depth]):
            for i in range(count):
                units.append(IRUnit(cin, width, 2 if i == 0 else 1))
                cin = width
            self.stage_ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        if side is not None:
            self.output_layer = output_layer(side)
        for m in self.modules():  # face.evoLVe's initialisation
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def body_intermediates(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, hidden = self.input_layer(x), []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.stage_ends:
                hidden.append(x)
        return x, hidden


class _IR64(Backbone):
    """A 64-px IR classifier trunk with the output layer beside it (KED-MI's ``IR152`` / ``FaceNet64``)."""

    depth: int
    version = "1"
    code = "https://github.com/ZhaoJ9014/face.evoLVe (backbone/model_irse.py); KED-MI models/classify.py"

    def __init__(self):
        super().__init__()
        self.feature = IRTrunk(self.depth)
        self.output_layer = output_layer(4)
        self.feature_dim = 512
        self.feature_info = [dict(module=f"feature.body.{end}", num_chs=w, reduction=2 ** (i + 1))
                             for i, (end, w) in enumerate(zip(self.feature.stage_ends, WIDTHS))]

    def forward(self, x):
        return self.output_layer(self.feature.body(self.feature.input_layer(x)))

    def forward_intermediates(self, x):
        x, hidden = self.feature.body_intermediates(x)
        return self.output_layer(x), hidden

    def layers(self):
        return [self.feature.input_layer, *self.feature.body, self.output_layer]


class IR152(_IR64):
    name = "ir152_64"
    depth = 152
    paper = "Deng et al., ArcFace (CVPR 2019); the IR-152 target of KED-MI (ICCV 2021) and PLG-MI (AAAI 2023)"


class FaceNet64(_IR64):
    name = "facenet64"
    depth = 50
    paper = "Deng et al., ArcFace (CVPR 2019); KED-MI's FaceNet64 target (face.evoLVe IR-50 at 64 px)"


class FaceNet112(Backbone):
    """The field's judge: IR-50 at 112 px (KED-MI's ``FaceNet``), fed 64-px images resized inside."""

    name = "facenet112"
    version = "1"
    paper = "Deng et al., ArcFace (CVPR 2019); the FaceNet112 evaluator of GMI, KED-MI, PLG-MI and MIBench"
    code = "https://github.com/ZhaoJ9014/face.evoLVe (backbone/model_irse.py); KED-MI models/classify.py"

    def __init__(self, input_size: int = 112):
        super().__init__()
        self.input_size = input_size
        self.feature = IRTrunk(50, side=input_size // 16)
        self.feature_dim = 512
        self.feature_info = [dict(module=f"feature.body.{end}", num_chs=w, reduction=2 ** (i + 1))
                             for i, (end, w) in enumerate(zip(self.feature.stage_ends, WIDTHS))]

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.input_size and x.shape[-2] == self.input_size:
            return x
        return F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)

    def forward(self, x):
        return self.forward_intermediates(x)[0]

    def forward_intermediates(self, x):
        x, hidden = self.feature.body_intermediates(self._resize(x))
        return self.feature.output_layer(x), hidden

    def layers(self):
        return [self.feature.input_layer, *self.feature.body, self.feature.output_layer]
