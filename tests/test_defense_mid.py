"""MID (defenses/mid.py): the VIB head and its loss against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mibench.data import DataRoles
from mibench.defense import DefenseContext
from mibench.defenses.mid import MID, VIBHead, gaussian_kl
from mibench.errors import ConfigError, TrainingError
from mibench.models import Classifier
from mibench.models.mcnn import MCNN
from mibench.registries import SUITES
from mibench.training import TrainRecipe, accuracy


def test_kl_by_hand():
    # row 0: mu = (1, 0), sigma = (1, e^-1)
    #   dim 0: 1 + 1 - 1 - log 1 = 1;  dim 1: 0 + e^-2 - 1 - log e^-2 = 1 + e^-2
    #   KL = 0.5 * (2 + e^-2) = 1 + e^-2 / 2
    # row 1: mu = 0, sigma = 1 is the prior itself: KL = 0.  Mean over the batch: half of row 0.
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    sigma = torch.tensor([[1.0, math.exp(-1)], [1.0, 1.0]])
    assert gaussian_kl(mu, sigma).item() == pytest.approx((1 + math.exp(-2) / 2) / 2, rel=1e-6)


def test_kl_gradient_by_hand():
    # d/dmu 0.5 (mu^2 + sigma^2 - 1 - 2 log sigma) = mu;  d/dsigma = sigma - 1/sigma; / batch size 2
    mu = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    sigma = torch.tensor([[1.0, 0.5], [2.0, 1.0]], requires_grad=True)
    gaussian_kl(mu, sigma).backward()
    assert torch.allclose(mu.grad, mu.detach() / 2)
    assert torch.allclose(sigma.grad, torch.tensor([[0.0, 0.5 - 2.0], [2.0 - 0.5, 0.0]]) / 2)


def hand_model() -> Classifier:
    """d = 2, k = 1: s = h + (0, 5), so mu = h_0 and sigma = softplus(h_1); logits = (z, 0)."""
    head = VIBHead(feature_dim=2, num_classes=2)
    with torch.no_grad():
        head.stats.weight.copy_(torch.eye(2))
        head.stats.bias.copy_(torch.tensor([0.0, 5.0]))
        head.classify.weight.copy_(torch.tensor([[1.0], [0.0]]))
        head.classify.bias.zero_()
    return Classifier(nn.Identity(), head)


@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_loss_by_hand_in_eval_mode(beta):
    # h = (1, log(e - 1)): mu = 1, sigma = log(1 + e - 1) = 1, so KL = 0.5 (1 + 1 - 1 - 0) = 0.5.
    # eval mode: z = mu = 1, logits (1, 0), CE for y = 0 is log(1 + e^-1).
    model = hand_model().eval()
    h = torch.tensor([[1.0, math.log(math.e - 1)]])
    loss = MID({"beta": beta}).loss(model, h, torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)) + beta * 0.5, rel=1e-6)


def test_beta_term_reaches_the_encoder_only():
    """In eval mode (z = mu) the KL gradient is beta * dKL/ds on the stats layer and nothing on the
    classifier: for mu = 1, sigma = 1, dKL/dmu = 1 and dKL/dsigma = 0, so bias grad differs by (beta, 0)."""
    h, y = torch.tensor([[1.0, math.log(math.e - 1)]]), torch.tensor([0])
    grads = {}
    for beta in (0.0, 0.5):
        model = hand_model().eval()
        MID({"beta": beta}).loss(model, h, y).backward()
        grads[beta] = {n: p.grad.clone() for n, p in model.named_parameters()}
    difference = grads[0.5]["head.stats.bias"] - grads[0.0]["head.stats.bias"]
    assert torch.allclose(difference, torch.tensor([0.5, 0.0]), atol=1e-6)
    assert torch.equal(grads[0.5]["head.classify.weight"], grads[0.0]["head.classify.weight"])


def test_train_mode_samples_and_eval_mode_uses_the_mean():
    torch.manual_seed(0)
    head = VIBHead(feature_dim=8, num_classes=3)
    h = torch.randn(5, 8)
    with torch.no_grad():
        head.stats.bias[4:] = 10.0  # sigma ~ softplus(5): sampling is visible
        head.train()
        assert not torch.equal(head(h), head(h))
        head.eval()
        logits, mu, sigma = head.forward_stats(h)
        assert torch.equal(head(h), head(h))
        assert torch.equal(logits, head(h)) and torch.equal(logits, head.classify(mu))
        assert mu.shape == sigma.shape == (5, 4) and (sigma > 0).all()


def tiny_context(lr: float = 0.05) -> tuple[DefenseContext, DataRoles]:
    data = SUITES.get("tiny")().load()
    ctx = DefenseContext(data=data, num_classes=4, make_backbone=lambda: MCNN(1, 0.125),
                         recipe=TrainRecipe(epochs=5, batch_size=16, lr=lr), device=torch.device("cpu"), seed=0)
    return ctx, data


def test_trains_a_target_end_to_end():
    ctx, data = tiny_context()
    torch.manual_seed(0)
    model = MID().train(ctx)
    assert isinstance(model.head, VIBHead) and model.head.k == 16  # MCNN width 0.125: d = 32
    assert accuracy(model, data.private_test, ctx.device) > 0.5
    x = data.private_test.images[:4]
    assert torch.equal(model(x), model(x))  # the deployed (eval) model is deterministic


def test_a_diverging_run_raises_a_training_error_naming_the_stage():
    ctx, _ = tiny_context(lr=1e6)
    torch.manual_seed(0)
    with pytest.raises(TrainingError, match=r"target \[mid\]"):
        MID().train(ctx)


def test_bad_parameters_and_the_ladder():
    with pytest.raises(ConfigError, match="beta"):
        MID({"beta": -1})
    betas = [MID(point).params.beta for point in MID.ladder.points]
    assert betas == sorted(betas) and MID().params.beta in betas  # weakest first, default on it
