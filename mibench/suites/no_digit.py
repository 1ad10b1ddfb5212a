"""Images that show no digit: the mnist judge's eleventh class (judge v3, docs/protocol-card.md, judge).

A judge of the ten digits alone must call every image a digit, so it credited an attacker for
drawing nothing (v2 read a blank image as a 1). Judge v3 also learns "no digit" from the images
made here: blanks, faint noise, blobs, short strokes and digits dimmed to a few percent of their
ink, all drawn from one seeded ``torch.Generator`` and quantised to 8 bits as scored reconstructions.
"""

from __future__ import annotations

import torch

NO_DIGIT = 10
"""The judge's eleventh class (judge v3): an image that shows no digit. Private digit c is judge class c."""
NO_DIGIT_KINDS = ("blank", "uniform", "gaussian", "blobs", "strokes", "dimmed")
NO_DIGIT_SHARE = 0.1
"""No-digit images added to the judge's training set, as a share of its 60,000 digits (6,000: 1,000 per kind)."""
NO_DIGIT_SEED, CHECK_SEED = 10, 11
"""Seeds of the judge's no-digit training images and of the held-out ones of :meth:`MnistSuite.judge_checks`."""


def _uniform(gen: torch.Generator, shape, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def content_free(kind: str, n: int, gen: torch.Generator, digits: torch.Tensor | None = None, *,
                 amplitude: float | None = None, ink: float | None = None) -> torch.Tensor:
    """``n`` 1 x 32 x 32 images in [0, 1] that show no digit, quantised to 8 bits as scored reconstructions:

    - ``blank``: one grey level per image (0 for half of them, else uniform in [0, 1]);
    - ``uniform``: ``amplitude`` x U(0, 1) per pixel, the amplitude uniform in [0.02, 0.3] unless given;
    - ``gaussian``: m + s N(0, 1) per pixel, m in [0, 0.2], s (``amplitude``) in [0.02, 0.2], clamped;
    - ``blobs``: 1-3 isotropic Gaussian bumps (centres in [4, 28], sigma 1.5-6 px, peaks 0.1-1), summed;
    - ``strokes``: 2-4 straight segments 4-14 px long, 1-3 px wide, ink 0.3-1 (longer single lines are 1s);
    - ``dimmed``: random images of ``digits`` times an ink factor in [0.03, 0.15] (``ink`` when given).
    """
    def per_image(value: float | None, lo: float, hi: float) -> torch.Tensor:
        return (torch.full((n,), float(value)) if value is not None else _uniform(gen, n, lo, hi)).view(n, 1, 1, 1)

    side = 32
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    pixels = torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)
    if kind == "blank":
        level = torch.where(torch.rand(n, generator=gen) < 0.5, 0.0, torch.rand(n, generator=gen))
        images = level.view(n, 1, 1, 1).expand(n, 1, side, side)
    elif kind == "uniform":
        images = per_image(amplitude, 0.02, 0.3) * torch.rand(n, 1, side, side, generator=gen)
    elif kind == "gaussian":
        sigma = per_image(amplitude, 0.02, 0.2)
        images = per_image(None, 0.0, 0.2) + sigma * torch.randn(n, 1, side, side, generator=gen)
    elif kind in ("blobs", "strokes"):
        k, least = (3, 1) if kind == "blobs" else (4, 2)
        used = torch.arange(k) < torch.randint(least, k + 1, (n, 1), generator=gen)  # n x k: which shapes are drawn
        if kind == "blobs":
            centre = _uniform(gen, (n, k, 1, 2), 4.0, 28.0)
            sigma, peak = _uniform(gen, (n, k, 1), 1.5, 6.0), _uniform(gen, (n, k, 1), 0.1, 1.0) * used[..., None]
            images = (peak * torch.exp(-((pixels - centre) ** 2).sum(-1) / (2 * sigma ** 2))).sum(1)
        else:
            start, angle = _uniform(gen, (n, k, 1, 2), 2.0, 30.0), _uniform(gen, (n, k, 1), 0.0, 2 * torch.pi)
            length = _uniform(gen, (n, k, 1), 4.0, 14.0)
            along = torch.stack([angle.cos(), angle.sin()], -1) * length[..., None]
            width, ink_ = _uniform(gen, (n, k, 1), 1.0, 3.0), _uniform(gen, (n, k, 1), 0.3, 1.0) * used[..., None]
            t = (((pixels - start) * along).sum(-1) / (along ** 2).sum(-1)).clamp(0, 1)
            dist = (pixels - start - t[..., None] * along).norm(dim=-1)
            images = (ink_ * (width / 2 + 0.5 - dist).clamp(0, 1)).amax(1)  # antialiased edge, 1 px
        images = images.reshape(n, 1, side, side)
    elif kind == "dimmed":
        if digits is None:
            raise ValueError("content_free('dimmed', ...) needs the digits to dim")
        images = digits[torch.randint(len(digits), (n,), generator=gen)].float() * per_image(ink, 0.03, 0.15)
    else:
        raise ValueError(f"unknown content-free kind {kind!r}; kinds: {', '.join(NO_DIGIT_KINDS)}")
    return images.clamp(0, 1).mul(255).round().div(255).contiguous()


def no_digit_images(n: int, seed: int, digits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` content-free images, the kinds of :data:`NO_DIGIT_KINDS` in equal shares (in that order), and
    each image's kind index; deterministic given ``seed`` (one ``torch.Generator``)."""
    gen = torch.Generator().manual_seed(seed)
    counts = [n // len(NO_DIGIT_KINDS) + (i < n % len(NO_DIGIT_KINDS)) for i in range(len(NO_DIGIT_KINDS))]
    images = torch.cat([content_free(kind, c, gen, digits) for kind, c in zip(NO_DIGIT_KINDS, counts)])
    return images, torch.repeat_interleave(torch.arange(len(NO_DIGIT_KINDS)), torch.tensor(counts))
