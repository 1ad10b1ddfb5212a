"""Differentiable, batched augmentation of PLG-MI (its kornia pipeline, re-implemented in torch).

PLG-MI applies, to every generated image fed to the target, RandomResizedCrop(scale 0.8-1,
ratio 1), ColorJitter(brightness 0.2, contrast 0.2, p 0.5), RandomHorizontalFlip and
RandomRotation(5 degrees). The geometric parts are composed into one affine warp per image
(``grid_sample``), so the whole batch is augmented in one call and gradients reach the latent.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, *, hflip: bool = True, scale: tuple[float, float] = (0.8, 1.0),
            rotation_deg: float = 5.0, brightness: float = 0.2, contrast: float = 0.2,
            jitter_p: float = 0.5) -> torch.Tensor:
    """Augment images ``x`` (N x C x H x W in [0, 1]); randomness from torch's global generator."""
    n, dev = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.empty(n, device=dev).uniform_(lo, hi)

    side = uniform(*scale).sqrt()  # crop side as a fraction of the image (area scale, ratio 1)
    tx, ty = (side - 1) * uniform(-1, 1), (side - 1) * uniform(-1, 1)
    angle = uniform(-rotation_deg, rotation_deg) * (math.pi / 180)
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0) if hflip else torch.ones(n, device=dev)
    cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    jitter = (torch.rand(n, device=dev) < jitter_p).float()[:, None, None, None]
    b = 1 + jitter * uniform(-brightness, brightness)[:, None, None, None]
    x = (x * b).clamp(0, 1)
    c = 1 + jitter * uniform(-contrast, contrast)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean).clamp(0, 1)
