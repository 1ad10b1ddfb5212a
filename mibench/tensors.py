"""Batched tensor helpers shared by the core, the attacks and the evaluators."""

from __future__ import annotations

from typing import Callable

import torch


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict, detached and on the CPU: what the cache stores."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def as_float(images: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1], converted where they are: uint8 pixels (0-255, how large suites
    keep their data) are divided by 255, float images pass through unchanged."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, device: torch.device,
            batch_size: int = 512) -> torch.Tensor:
    """Apply ``fn`` to ``inputs`` in batches on ``device``; results are gathered on the CPU. uint8
    inputs are images: each batch goes to the device as uint8 and is converted there (:func:`as_float`)."""
    return torch.cat([fn(as_float(inputs[i:i + batch_size].to(device))).cpu()
                      for i in range(0, len(inputs), batch_size)])


def nearest_same_class(query: torch.Tensor, query_labels: torch.Tensor, bank: torch.Tensor,
                       bank_labels: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query: squared L2 distance to, and index of, the nearest ``bank`` row of the same label.

    Used by the KNN-distance metric and by the run folder's comparison grid.
    """
    dists, index = [], []
    bank = bank.double()
    for i in range(0, len(query), chunk):
        q = query[i:i + chunk].double()
        d = torch.cdist(q, bank).pow(2)
        d = d.masked_fill(query_labels[i:i + chunk, None] != bank_labels[None, :], float("inf"))
        best = d.min(1)
        dists.append(best.values)
        index.append(best.indices)
    dist = torch.cat(dists)
    if torch.isinf(dist).any():
        raise ValueError("a reconstruction's class has no private_train image to compare with")
    return dist, torch.cat(index)
