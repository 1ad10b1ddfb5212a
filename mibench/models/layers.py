"""Layers whose inference path is faster on the CPU than torch's and gives the same values."""

from __future__ import annotations

import torch
from torch import nn


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)``. When no gradient flows through it, the output is the elementwise maximum
    of the four stride-2 views of the input: the same values to the last bit (a maximum is exact),
    about 3x faster than ``max_pool2d_with_indices``, the kernel torch runs on a CPU tensor in
    NCHW layout. When the input requires a gradient, it is ``nn.MaxPool2d`` itself, so that a tied
    window sends its gradient to one input, as torch's pooling does (``torch.maximum`` would
    split it)."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad or x.shape[-1] % 2 or x.shape[-2] % 2:
            return super().forward(x)
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
