"""The run folder's ``grid.png``: each reconstruction beside the nearest private image of its class,
readable on its own.

One row per attacked class (labelled), up to ``per_class`` pairs per row: the reconstruction, framed
green when the judge's top-1 prediction is the attacked class (a success) and red otherwise, then
the nearest private training image of that class in the judge's feature space (the KNN metric's
neighbour). Drawn with matplotlib's object API (no global pyplot state).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .cache import atomic_write_bytes

SUCCESS, FAILURE = "#1a9850", "#d73027"


def draw_grid(images: torch.Tensor, labels: torch.Tensor, nearest: torch.Tensor, success: torch.Tensor, path: Path,
              title: str, per_class: int = 8) -> Path:
    """Write the grid of ``images`` (N x C x H x W in [0, 1]) to ``path`` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    classes = labels.unique().tolist()
    per_class = min(per_class, max(int((labels == c).sum()) for c in classes))
    cols = 2 * per_class
    fig = Figure(figsize=(0.75 * cols + 0.9, 0.85 * len(classes) + 1.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(classes), cols, squeeze=False)
    for r, c in enumerate(classes):
        idx = (labels == c).nonzero().squeeze(1)[:per_class].tolist()
        for k in range(per_class):
            recon_ax, near_ax = axes[r][2 * k], axes[r][2 * k + 1]
            for ax in (recon_ax, near_ax):
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if k < len(idx):
                i = idx[k]
                _show(recon_ax, images[i])
                _show(near_ax, nearest[i])
                recon_ax.add_patch(Rectangle((0, 0), 1, 1, transform=recon_ax.transAxes, fill=False, linewidth=3,
                                             edgecolor=SUCCESS if bool(success[i]) else FAILURE, clip_on=False))
            if r == 0:
                recon_ax.set_title("recon.", fontsize=7)
                near_ax.set_title("nearest", fontsize=7)
        axes[r][0].set_ylabel(f"class {c}", fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"{title}\ngreen frame: the judge recognises the attacked class; red: it does not; each pair: "
                 f"reconstruction, nearest private image of the class", fontsize=8)
    fig.subplots_adjust(left=0.06, right=0.995, bottom=0.01, top=1 - 0.8 / fig.get_figheight(), wspace=0.08,
                        hspace=0.12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def _show(ax, image: torch.Tensor) -> None:
    array = image.clamp(0, 1).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        ax.imshow(array[:, :, 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(array)


def keep_grid(folder: Path, config_hash: str, seed: int, seeds: list[int], png: bytes) -> None:
    """Keep one grid per configuration in a board's ``grids/<board>/`` (``folder``): the lowest seed's,
    as ``<config_hash>-s<seed>.png``. ``png`` (the grid of run ``seed``) replaces the configuration's
    grids unless a lower seed is among its records' ``seeds``."""
    if seeds and seed > min(seeds):
        return
    name = f"{config_hash}-s{seed}.png"
    atomic_write_bytes(Path(folder) / name, png)
    for other in Path(folder).glob(f"{config_hash}-s*.png"):
        if other.name != name:
            other.unlink()
