"""Label smoothing / NegLS (defenses/ls.py): the loss by hand, the schedule, end to end."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mibench.data import DataRoles
from mibench.defense import DefenseContext
from mibench.defenses.ls import LabelSmoothing, smoothed_cross_entropy, smoothing_schedule
from mibench.errors import ConfigError
from mibench.models.mcnn import MCNN
from mibench.registries import SUITES
from mibench.training import TrainRecipe, accuracy


def test_negative_smoothing_by_hand():
    # C = 3, alpha = -0.1, y = 0: targets 1.1 * (1, 0, 0) - 0.1 / 3 = (16/15, -1/30, -1/30).
    # logits (log 2, 0, 0): p = (1/2, 1/4, 1/4), log p = (-ln 2, -2 ln 2, -2 ln 2).
    # L = -(16/15 * -ln 2 + 2 * (-1/30) * (-2 ln 2)) = (16/15 - 2/15) ln 2 = 14/15 ln 2
    logits = torch.tensor([[math.log(2.0), 0.0, 0.0]])
    got = smoothed_cross_entropy(logits, torch.tensor([0]), -0.1)
    assert got.item() == pytest.approx(14 / 15 * math.log(2.0), rel=1e-6)


def test_negative_smoothing_is_unbounded_below_unlike_ce():
    # (1, 0, 0) targets push p_0 up only; with alpha < 0 lowering p_1, p_2 further keeps paying.
    confident = torch.tensor([[0.0, -20.0, -20.0]])
    very_confident = torch.tensor([[0.0, -40.0, -40.0]])
    y = torch.tensor([0])
    assert smoothed_cross_entropy(very_confident, y, -0.1) < smoothed_cross_entropy(confident, y, -0.1) < 0


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3])
def test_non_negative_alpha_is_torch_label_smoothing(alpha):
    torch.manual_seed(0)
    logits, y = torch.randn(6, 5), torch.randint(0, 5, (6,))
    expected = F.cross_entropy(logits, y, label_smoothing=alpha)
    assert smoothed_cross_entropy(logits, y, alpha).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("fraction, expected", [(0.0, 0.0), (0.49, 0.0), (0.5, 0.0), (0.625, -0.05), (0.75, -0.1),
                                                (1.0, -0.1)])
def test_negative_alpha_schedule(fraction, expected):
    # ramp from 0.5 to 0.75: at 0.625, half-way, alpha / 2
    assert smoothing_schedule(-0.1, fraction, 0.5, 0.75) == pytest.approx(expected)


@pytest.mark.parametrize("fraction", [0.0, 0.49, 0.5, 0.625, 0.75, 1.0])
def test_positive_alpha_applies_from_the_start(fraction):
    assert smoothing_schedule(0.1, fraction, 0.5, 0.75) == 0.1


def tiny_context() -> tuple[DefenseContext, DataRoles]:
    data = SUITES.get("tiny")().load()
    ctx = DefenseContext(data=data, num_classes=4, make_backbone=lambda: MCNN(1, 0.125),
                         recipe=TrainRecipe(epochs=5, batch_size=16, lr=0.05), device=torch.device("cpu"), seed=0)
    return ctx, data


def test_trains_end_to_end_following_the_schedule():
    """96 images, batch 16: 6 steps an epoch, 30 steps; alpha is 0 for steps 0-15 (fraction < 0.5),
    ramps over steps 15-22 and is alpha from step 23 (fraction >= 0.75) on."""
    ctx, data = tiny_context()
    defense = LabelSmoothing({"alpha": -0.1})
    used = []

    def spy(model, x, y):
        used.append(defense.current_alpha)
        return LabelSmoothing.loss(defense, model, x, y)

    defense.loss = spy
    torch.manual_seed(0)
    model = defense.train(ctx)
    assert len(used) == 30
    assert used[:16] == [0.0] * 16 and used[23:] == [-0.1] * 7
    assert used[18] == pytest.approx(-0.1 * (18 / 30 - 0.5) / 0.25)
    assert accuracy(model, data.private_test, ctx.device) > 0.5


def test_bad_parameters_and_the_ladder():
    with pytest.raises(ConfigError, match="alpha"):
        LabelSmoothing({"alpha": 2})
    with pytest.raises(ConfigError, match="ramp_start"):
        LabelSmoothing({"ramp_start": 0.8, "ramp_end": 0.6})
    alphas = [LabelSmoothing(point).params.alpha for point in LabelSmoothing.ladder.points]
    assert alphas == sorted(alphas, reverse=True)  # weakest first: positive alpha helps the attack
    assert LabelSmoothing().params.alpha in alphas
