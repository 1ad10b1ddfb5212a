"""Differentiable, batched augmentation of PLG-MI (its kornia pipeline, re-implemented in torch).

PLG-MI applies, to every generated image fed to the target, RandomResizedCrop(scale 0.8-1,
ratio 1), ColorJitter(brightness 0.2, contrast 0.2, p 0.5), RandomHorizontalFlip and
RandomRotation(5 degrees). The geometric parts are composed into one affine warp per image
(``grid_sample``), so the whole batch is augmented in one call and gradients reach the latent.
Known differences from the official kornia pipeline (docs/protocol-card.md, known deviation 3): the
rotation is always applied (kornia: p = 0.5), the inversion's jitter has p = 0.5 (kornia: 1.0) and
brightness always comes before contrast (kornia: random order).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def draw(n: int, device: torch.device, *, hflip: bool = True, scale: tuple[float, float] = (0.8, 1.0),
         rotation_deg: float = 5.0, brightness: float = 0.2, contrast: float = 0.2,
         jitter_p: float = 0.5) -> dict[str, torch.Tensor]:
    """The random parameters of ``n`` augmentations (one row each), from torch's global generator:
    drawn for a whole batch at once, so that applying them chunk by chunk changes no draw."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.empty(n, device=device).uniform_(lo, hi)

    side = uniform(*scale).sqrt()  # crop side as a fraction of the image (area scale, ratio 1)
    tx, ty = (side - 1) * uniform(-1, 1), (side - 1) * uniform(-1, 1)
    angle = uniform(-rotation_deg, rotation_deg) * (math.pi / 180)
    flip = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0) if hflip else torch.ones(n, device=device)
    jitter = (torch.rand(n, device=device) < jitter_p).float()
    b = 1 + jitter * uniform(-brightness, brightness)
    c = 1 + jitter * uniform(-contrast, contrast)
    return {"side": side, "tx": tx, "ty": ty, "angle": angle, "flip": flip, "brightness": b, "contrast": c}


def apply(x: torch.Tensor, params: dict[str, torch.Tensor], rows: slice = slice(None)) -> torch.Tensor:
    """Augment images ``x`` (N x C x H x W in [0, 1]) with the ``rows`` of drawn ``params``."""
    p = {k: v[rows] for k, v in params.items()}
    cos, sin = torch.cos(p["angle"]) * p["side"], torch.sin(p["angle"]) * p["side"]
    theta = torch.stack([torch.stack([cos * p["flip"], -sin, p["tx"]], 1),
                         torch.stack([sin * p["flip"], cos, p["ty"]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = (x * p["brightness"][:, None, None, None]).clamp(0, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * p["contrast"][:, None, None, None] + mean).clamp(0, 1)


def augment(x: torch.Tensor, **options) -> torch.Tensor:
    """Augment images ``x`` (N x C x H x W in [0, 1]) with fresh draws (:func:`draw`'s options)."""
    return apply(x, draw(x.shape[0], x.device, **options))
