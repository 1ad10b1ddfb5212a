"""ChunkedGradient: the gradient of a batch in chunks of whole groups is the whole batch's, and a
step that runs out of device memory is retried in smaller chunks (simulated here: no GPU needed)."""

import pytest
import torch

from mibench.chunks import ChunkedGradient, map_rows


def per_row_problem(n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, generator=g, requires_grad=True)
    w = torch.randn(3, 4, generator=g)
    return z, lambda rows: (z[rows] @ w).tanh().pow(2).sum(1)


def test_one_chunk_is_the_plain_gradient_to_the_last_bit_and_chunks_of_rows_agree():
    z, loss_of = per_row_problem()
    (plain,) = torch.autograd.grad(loss_of(slice(None)).sum() / 3, z)
    (whole,), losses = ChunkedGradient(7)(loss_of, lambda chunk, rows: chunk.sum() / 3, [z])
    assert torch.equal(whole, plain) and torch.equal(losses, loss_of(slice(None)).detach())
    chunked = ChunkedGradient(7)
    chunked.chunk = 3
    (parts,), losses = chunked(loss_of, lambda chunk, rows: chunk.sum() / 3, [z])
    assert torch.allclose(parts, plain, rtol=1e-6, atol=0) and losses.shape == (7,)


def test_out_of_memory_halves_the_chunk_in_whole_groups_and_keeps_the_size_that_fits():
    z, per_row = per_row_problem(n=6)
    calls = []

    def loss_of(rows):  # a device that holds at most 3 rows at once
        calls.append((rows.start, rows.stop))
        if rows.stop - rows.start > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return per_row(rows)

    gradient = ChunkedGradient(6, [2, 1, 2, 1])  # groups of rows 0-1, 2, 3-4, 5
    (grad,), _ = gradient(loss_of, lambda chunk, rows: chunk.sum(), [z])
    # 4 groups: all at once (6 rows) fails; 2 groups per chunk: rows 0-2 fit, rows 3-5 fit
    assert calls == [(0, 6), (0, 3), (3, 6)] and gradient.chunk == 2
    (plain,) = torch.autograd.grad(per_row(slice(None)).sum(), z)
    assert torch.allclose(grad, plain, rtol=1e-6, atol=0)
    calls.clear()
    gradient(loss_of, lambda chunk, rows: chunk.sum(), [z])
    assert calls == [(0, 3), (3, 6)]  # the next step starts at the size that fitted
    assert gradient.groups_in(slice(3, 6)) == [slice(0, 2), slice(2, 3)]


def test_a_group_that_alone_does_not_fit_is_an_out_of_memory_error():
    z, _ = per_row_problem(n=4)

    def loss_of(rows):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    gradient = ChunkedGradient(4, 2)
    with pytest.raises(torch.OutOfMemoryError):
        gradient(loss_of, lambda chunk, rows: chunk.sum(), [z])
    assert gradient.chunk == 1


def test_groups_must_cover_the_batch():
    assert ChunkedGradient(5, 2).bounds == [0, 2, 4, 5]
    with pytest.raises(ValueError, match="do not cover 5 rows"):
        ChunkedGradient(5, [2, 2])


def test_map_rows_gives_one_calls_outputs_to_the_last_bit_on_the_mnist_target_and_generator():
    from torch import nn

    from mibench.attacks.gmi.networks import Generator
    from mibench.models import Classifier
    from mibench.models.mcnn import MCNN

    torch.manual_seed(0)
    G = Generator((1, 32, 32), 16, 100).eval().requires_grad_(False)
    backbone = MCNN(1, 0.5)
    T = Classifier(backbone, nn.Linear(backbone.feature_dim, 5)).eval().requires_grad_(False)
    z = torch.randn(300, 100)  # 3 chunks of 128, 128 and 44 rows
    with torch.no_grad():
        assert torch.equal(map_rows(lambda x: T(G(x)), z, (1, 32, 32), torch.device("cpu")), T(G(z)))


def test_map_rows_splits_only_on_the_cpu_and_only_batches_larger_than_a_chunk():
    sizes = []

    def fn(x):
        sizes.append(len(x))
        return x * 2

    x = torch.arange(300.0)
    assert torch.equal(map_rows(fn, x, (1, 32, 32), torch.device("cpu")), x * 2) and sizes == [128, 128, 44]
    sizes.clear()
    map_rows(fn, x, (3, 64, 64), torch.device("cpu"))
    assert sizes == [32] * 9 + [12]  # 2 ** 17 pixels of 64 x 64 planes
    sizes.clear()
    map_rows(fn, x, (1, 32, 32), torch.device("meta"))  # another device: one call
    assert sizes == [300]
