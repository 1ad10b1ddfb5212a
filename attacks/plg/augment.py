"""Differentiable, batched augmentation of PLG-MI: its kornia 0.6.6 pipelines re-implemented in torch
(docs/protocol-card.md, ``attacks.plg``).

PLG-MI feeds the target ``kornia.augmentation.container.ImageSequential`` of, in this order:

1. ``RandomResizedCrop(scale=(0.8, 1.0), ratio=(1.0, 1.0))``, p = 1: kornia draws 10 candidate
   areas U(0.8, 1) x H x W per image, rounds ``sqrt(area)`` to an integer side, keeps the first
   candidate with ``0 < side < size`` (else the whole image), places the square at an integer corner
   ``floor(U(0, 1) * (size - side + 1))`` and resizes it back to the image size (bilinear,
   ``align_corners=True``).
2. ``ColorJitter(brightness=0.2, contrast=0.2)``, applied to each image with probability
   ``GAN_JITTER_P`` = 0.5 in the GAN stage (``train_cgan.py:250-255``) and ``INVERSION_JITTER_P`` =
   1.0, kornia's default, in the inversion (``reconstruct.py:66-71``). Factors b, c ~ U(0.8, 1.2)
   per image; brightness ``clamp(x * b, 0, 1)``, contrast ``clamp(c * x + (1 - c) * mean, 0, 1)``
   (kornia ``adjust_brightness_accumulative``, ``adjust_contrast_with_mean_subtraction``; the mean
   of the image's grayscale 0.299 R + 0.587 G + 0.114 B). kornia draws the order of the four
   adjustments with one ``randperm(4)`` **per call**, shared by the whole batch; saturation and hue
   are identities at 0, so what matters is whether contrast comes before brightness: probability
   1/2, one draw per call here too.
3. ``RandomHorizontalFlip()``, p = 0.5 per image (``FLIP_P``; a suite may turn it off: ``hflip``).
4. ``RandomRotation(5)``, p = ``ROTATION_P`` = 0.5 per image (kornia's default, ``rotation.py:73``):
   an angle U(-5, 5) degrees about the image centre, bilinear, zero padding, ``align_corners=True``.

As kornia, the crop and the rotation are two resamplings (``grid_sample``) with the jitter between
them, so the rotation pads with zeros outside the cropped image. Images that are not rotated
(flipped or not) are not resampled a second time. All draws for a batch are made at once
(:func:`draw`, from the given torch generator or torch's global one), so applying them chunk by
chunk (:func:`apply` with ``rows``) changes no number, and no step loops over images.

Differences from kornia: random numbers come from torch's generator in another order (same
distributions); a 1-channel image's contrast mean is its own mean (kornia 0.6.6 takes the mean of
every selected image of a grayscale batch at once, ``image.mean()``, which would tie an image's
augmentation to its batch; PLG-MI itself only runs on RGB).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CROP_SCALE = (0.8, 1.0)
"""RandomResizedCrop area scale (``train_cgan.py:251``, ``reconstruct.py:67``); ratio 1."""
CROP_TRIES = 10
"""Candidate crops per image before falling back to the whole image (kornia ``ResizedCropGenerator``)."""
BRIGHTNESS = CONTRAST = 0.2
"""ColorJitter ranges: factors U(1 - 0.2, 1 + 0.2) (``train_cgan.py:252``, ``reconstruct.py:68``)."""
GAN_JITTER_P = 0.5
"""ColorJitter probability in the GAN stage (``train_cgan.py:252``: ``p=0.5``)."""
INVERSION_JITTER_P = 1.0
"""ColorJitter probability in the inversion (``reconstruct.py:68``: kornia's default ``p=1.0``)."""
FLIP_P = 0.5
"""RandomHorizontalFlip probability (kornia's default)."""
ROTATION_DEG = 5.0
"""RandomRotation range in degrees (``train_cgan.py:254``, ``reconstruct.py:70``)."""
ROTATION_P = 0.5
"""RandomRotation probability (kornia 0.6.6's default, ``augmentation/_2d/geometric/rotation.py:73``)."""
GRAY = (0.299, 0.587, 0.114)
"""kornia ``rgb_to_grayscale`` weights, for the contrast mean of RGB images."""


def draw(n: int, size: tuple[int, int], device: torch.device, *, hflip: bool = True,
         jitter_p: float = GAN_JITTER_P, rotation_p: float = ROTATION_P,
         generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The random parameters of ``n`` augmentations of ``size`` = (H, W) images (one row each, but
    ``contrast_first``: one draw for the call), from ``generator`` (torch's global generator of
    ``device`` when None): drawn for a whole batch at once, so that applying them chunk by chunk
    changes no draw."""
    h, w = size

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, device=device, generator=generator)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * rand(n)

    # 1. RandomResizedCrop: the first of CROP_TRIES integer sides with 0 < side < size, else the image
    area = (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * rand(n, CROP_TRIES)) * (h * w)
    sides = area.sqrt().round()
    ok = (sides > 0) & (sides < min(h, w))
    first = ok.float().argmax(1, keepdim=True)  # argmax returns the first maximum
    found = ok.any(1)
    crop_h = torch.where(found, sides.gather(1, first).squeeze(1), torch.tensor(float(h), device=device))
    crop_w = torch.where(found, sides.gather(1, first).squeeze(1), torch.tensor(float(w), device=device))
    x0 = (rand(n) * (w - crop_w + 1)).floor()
    y0 = (rand(n) * (h - crop_h + 1)).floor()
    # 2. ColorJitter
    jitter = rand(n) < jitter_p
    brightness = torch.where(jitter, uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS), torch.ones((), device=device))
    contrast = torch.where(jitter, uniform(1 - CONTRAST, 1 + CONTRAST), torch.ones((), device=device))
    contrast_first = rand() < 0.5  # kornia: randperm(4) once per call
    # 3. RandomHorizontalFlip, 4. RandomRotation
    flip = (rand(n) < FLIP_P) & hflip
    rotate = rand(n) < rotation_p
    angle = torch.where(rotate, uniform(-ROTATION_DEG, ROTATION_DEG) * (math.pi / 180), torch.zeros((), device=device))
    return {"crop_h": crop_h, "crop_w": crop_w, "x0": x0, "y0": y0, "brightness": brightness,
            "contrast": contrast, "contrast_first": contrast_first, "flip": flip, "rotate": rotate, "angle": angle}


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _mean(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        x = sum(wt * x[:, i:i + 1] for i, wt in enumerate(GRAY))
    return x.mean(dim=(1, 2, 3), keepdim=True)


def apply(x: torch.Tensor, params: dict[str, torch.Tensor], rows: slice = slice(None)) -> torch.Tensor:
    """Augment images ``x`` (N x C x H x W in [0, 1]) with the ``rows`` of drawn ``params``."""
    p = {k: (v[rows] if v.dim() else v) for k, v in params.items()}
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    zero = torch.zeros(n, device=x.device)
    # 1. crop: output pixel i samples the crop's pixel x0 + i (side - 1) / (size - 1), in align_corners coordinates
    sx, sy = (p["crop_w"] - 1) / (w - 1), (p["crop_h"] - 1) / (h - 1)
    tx, ty = (2 * p["x0"] + p["crop_w"] - 1) / (w - 1) - 1, (2 * p["y0"] + p["crop_h"] - 1) / (h - 1) - 1
    theta = torch.stack([torch.stack([sx, zero, tx], 1), torch.stack([zero, sy, ty], 1)], 1)
    x = _warp(x, theta)
    # 2. jitter, in the order drawn for the call
    b, c = p["brightness"][:, None, None, None], p["contrast"][:, None, None, None]

    def bright(v: torch.Tensor) -> torch.Tensor:
        return (v * b).clamp(0, 1)

    def contr(v: torch.Tensor) -> torch.Tensor:
        return (v * c + _mean(v) * (1 - c)).clamp(0, 1)

    x = bright(contr(x)) if bool(p["contrast_first"]) else contr(bright(x))
    # 3. flip (exact), 4. rotation about the centre (pixel coordinates), zero padding
    x = torch.where(p["flip"][:, None, None, None], x.flip(-1), x)
    cos, sin = torch.cos(p["angle"]), torch.sin(p["angle"])
    aspect_xy, aspect_yx = (h - 1) / (w - 1), (w - 1) / (h - 1)  # 1 for square images
    theta = torch.stack([torch.stack([cos, -sin * aspect_xy, zero], 1),
                         torch.stack([sin * aspect_yx, cos, zero], 1)], 1)
    rotated = _warp(x, theta)
    return torch.where(p["rotate"][:, None, None, None], rotated, x)


def augment(x: torch.Tensor, *, generator: torch.Generator | None = None, **options) -> torch.Tensor:
    """Augment images ``x`` (N x C x H x W in [0, 1]) with fresh draws (:func:`draw`'s options)."""
    return apply(x, draw(x.shape[0], (x.shape[2], x.shape[3]), x.device, generator=generator, **options))
