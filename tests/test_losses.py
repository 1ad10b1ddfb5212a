"""Losses against values computed by hand."""

import math

import pytest
import torch

from mibench.attacks.plg.losses import hinge_discriminator, hinge_generator, max_margin
from mibench.defenses.calor import LowRankHead, confidence_adaptation_loss


def test_max_margin_by_hand():
    logits = torch.tensor([[2.0, 5.0, 1.0], [0.0, -1.0, 3.0]])
    y = torch.tensor([1, 0])
    # row 0: -5 + max(2, 1) = -3; row 1: -0 + max(-1, 3) = 3
    assert max_margin(logits, y).tolist() == [-3.0, 3.0]


def test_hinge_losses_by_hand():
    d_real = torch.tensor([2.0, 0.5])  # relu(1-2)=0, relu(1-0.5)=0.5 -> mean 0.25
    d_fake = torch.tensor([-3.0, 0.0])  # relu(1-3)=0, relu(1+0)=1 -> mean 0.5
    assert hinge_discriminator(d_real, d_fake).item() == pytest.approx(0.75)
    assert hinge_generator(d_fake).item() == pytest.approx(1.5)


def test_confidence_adaptation_by_hand():
    # two classes, logits (log 3, 0): p = (0.75, 0.25)
    logits = torch.tensor([[math.log(3.0), 0.0]])
    expected = 0.25 * 0.75 ** 8 * math.log(0.75)
    got = confidence_adaptation_loss(logits, torch.tensor([0]), a=0.25, b=8)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_confidence_adaptation_minimum_is_exp_minus_one_over_b():
    """Scan p_y through two-class logits (logit(p), 0) and find where mibench's loss is lowest."""
    p = torch.linspace(0.01, 0.999, 4000, dtype=torch.float64)
    logits = torch.stack([torch.log(p / (1 - p)), torch.zeros_like(p)], 1)
    per_sample = torch.stack([confidence_adaptation_loss(row[None], torch.tensor([0])) for row in logits])
    assert p[per_sample.argmin()].item() == pytest.approx(math.exp(-1 / 8), abs=1e-3)


@pytest.mark.parametrize("start, direction", [(0.99, -1), (0.5, +1)])
def test_confidence_adaptation_gradient_pulls_towards_0_88(start, direction):
    """Descending L_CA lowers an over-confident p_y and raises an under-confident one."""
    z = torch.tensor([[math.log(start / (1 - start)), 0.0]], requires_grad=True)
    confidence_adaptation_loss(z, torch.tensor([0])).backward()
    assert math.copysign(1, -z.grad[0, 0].item()) == direction


def test_low_rank_head_shapes_and_rank():
    head = LowRankHead(feature_dim=16, rank=3, num_classes=7).eval()
    out = head(torch.randn(50, 16))
    assert out.shape == (50, 7)
    centred = out - head.up.bias
    assert torch.linalg.matrix_rank(centred).item() <= 3
