"""A whole attack budget in one optimisation step, split into chunks only when memory runs out.

The white-box attacks optimise every latent of the budget at once (celeba64: 300 identities x 5
seeds = 1,500). The generator, the critic and the target are frozen in eval mode, so a row's loss
depends on its own latent and, at most, on the other rows of its **group** (KED-MI's minibatch
discrimination compares the images of one batch of identities). The gradient of a loss summed
over the batch is then the sum of the gradients of its chunks' sums, for any chunks made of whole
groups: splitting the batch changes no gradient, only how many images are in memory at once
(PLG-MI's inversion keeps about 200 MB of activations per latent on IR-152: 300 GB for the whole
celeba64 budget).

:class:`ChunkedGradient` runs the step on the whole batch; on a device out-of-memory error it
halves the chunk (in whole groups), drops the partial gradients and starts the step again, and
keeps the size that fits for the later steps. Whatever is random in a step is drawn for the whole
batch before the loss is called, so the chunk size never changes a draw; with one chunk, the
gradient is that of the unchunked code to the last bit. The queries of a step that ran out of
memory were made and stay counted.
"""

from __future__ import annotations

import gc
import logging
from typing import Callable, Sequence

import torch

log = logging.getLogger(__name__)


class ChunkedGradient:
    """Gradients of ``reduce(loss_of(rows), rows)`` summed over chunks of whole groups of rows.

    Args:
        n: the batch size (rows of every per-row tensor the loss reads).
        group: rows per group, the rows a chunk never splits (default 1), or the groups' sizes in
            row order (summing to ``n``).
    """

    def __init__(self, n: int, group: int | Sequence[int] = 1):
        sizes = [group] * (n // group) + ([n % group] if n % group else []) if isinstance(group, int) else list(group)
        if sum(sizes) != n or min(sizes, default=1) < 1:
            raise ValueError(f"groups of sizes {sizes} do not cover {n} rows")
        self.n, self.bounds = n, [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.chunk = len(sizes)  # groups per chunk

    def groups_in(self, rows: slice) -> list[slice]:
        """The groups that make up ``rows`` (a chunk), as slices relative to ``rows.start``."""
        return [slice(a - rows.start, b - rows.start) for a, b in zip(self.bounds, self.bounds[1:])
                if rows.start <= a and b <= rows.stop]

    def __call__(self, loss_of: Callable[[slice], torch.Tensor],
                 reduce: Callable[[torch.Tensor, slice], torch.Tensor],
                 inputs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(gradients of the inputs, the per-row losses detached)``. ``loss_of(rows)`` returns the
        per-row loss of ``rows`` (a slice of whole groups); ``reduce(loss, rows)`` maps it to the
        scalar whose gradient is taken, and must add up over chunks (a sum of per-row terms)."""
        while True:
            try:
                return self._step(loss_of, reduce, inputs)
            except torch.OutOfMemoryError:
                if self.chunk == 1:
                    raise
            # outside the except clause, so that the failed step's tensors (held by its traceback) are free
            self.chunk = (self.chunk + 1) // 2
            log.warning("out of device memory: the batch of %d rows now runs in chunks of %d group(s)",
                        self.n, self.chunk)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _step(self, loss_of, reduce, inputs) -> tuple[list[torch.Tensor], torch.Tensor]:
        grads: list[torch.Tensor] | None = None
        losses = []
        starts = self.bounds[:-1:self.chunk]
        for start, stop in zip(starts, [*starts[1:], self.n]):
            rows = slice(start, stop)
            loss = loss_of(rows)
            parts = torch.autograd.grad(reduce(loss, rows), inputs)
            grads = list(parts) if grads is None else [g + p for g, p in zip(grads, parts)]
            losses.append(loss.detach())
        return grads, torch.cat(losses)


CPU_CHUNK_PIXELS = 2 ** 17
"""Pixels per image plane times images per chunk of :func:`map_rows` on a CPU: 128 images of
32 x 32, whose largest activations stay within the cache of one core."""


def map_rows(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, image_shape: Sequence[int],
             device: torch.device) -> torch.Tensor:
    """``fn(x)`` for a row-wise ``fn`` (a frozen network in eval mode: each output row depends on its
    input row alone), run in chunks of rows on a CPU and in one call elsewhere.

    On a CPU a batch of thousands of images is memory-bound: each layer's activations (430 MB for
    3,300 images at the mnist target's first layer) go to memory and back. Chunks of 128 images of
    32 x 32 halved BREP-MI's query step on two cores; the outputs are those of one call to the last
    bit (the kernels compute each row alone), which ``tests/test_chunks.py`` checks."""
    if torch.device(device).type != "cpu":
        return fn(x)
    rows = max(1, CPU_CHUNK_PIXELS // (image_shape[-1] * image_shape[-2]))
    return fn(x) if len(x) <= rows else torch.cat([fn(part) for part in x.split(rows)])
