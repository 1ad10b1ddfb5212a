"""KED-MI: its GAN's losses and the recovery loss by hand, the minibatch discrimination, and the
target scope of its prior (one GAN per target, shared by the run seeds)."""

import math

import pytest
import torch

from mibench.attacks.kedmi import realness_loss, reparameterize
from mibench.attacks.kedmi.networks import MinibatchDiscrimination, MinibatchDiscriminator
from mibench.attacks.kedmi.prior import entropy_sum, feature_matching, soft_cross_entropy, unlabeled_loss
from mibench.registries import PRIORS
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve


def test_soft_cross_entropy_by_hand():
    logits, probs = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.25, 0.75]])
    assert soft_cross_entropy(logits, probs).item() == pytest.approx(math.log(2))


def test_unlabeled_loss_is_half_minus_log_d_real_minus_log_one_minus_d_fake():
    real, fake = torch.tensor([[0.0, math.log(3)]]), torch.tensor([[-10.0, -10.0]])
    lse_real = math.log(1 + 3)  # D(x) = sigma(log 4) = 0.8
    lse_fake = math.log(2 * math.exp(-10))
    expected = 0.5 * (-math.log(0.8) - math.log(1 - 1 / (1 + math.exp(-lse_fake))))
    assert unlabeled_loss(real, fake).item() == pytest.approx(expected, rel=1e-5)
    assert lse_real == pytest.approx(real.logsumexp(1).item())


def test_feature_matching_and_entropy_by_hand():
    fake, real = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert feature_matching(fake, real).item() == pytest.approx((2 + 2) / 2)  # |(2, 3) - (0, 1)|
    assert entropy_sum(torch.zeros(3, 4)).item() == pytest.approx(3 * math.log(4))


def test_realness_loss_is_minus_log_sigmoid_of_the_log_sum_exp():
    logits = torch.tensor([[0.0, math.log(3)]])  # lse = log 4
    assert realness_loss(logits).item() == pytest.approx(-math.log(0.8))


def test_reparameterize_by_hand():
    z = reparameterize(torch.tensor([1.0]), torch.tensor([math.log(4.0)]), torch.tensor([0.5]))
    assert z.item() == pytest.approx(1 + 2 * 0.5)


def test_minibatch_discrimination_sums_the_similarity_to_the_other_samples():
    mbd = MinibatchDiscrimination(2, kernels=1, kernel_dim=1)
    with torch.no_grad():
        mbd.T.copy_(torch.tensor([[1.0], [0.0]]))
    out = mbd(torch.tensor([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]]))  # M = 0, 1, 3
    expected = [math.exp(-1) + math.exp(-3), math.exp(-1) + math.exp(-2), math.exp(-3) + math.exp(-2)]
    assert out[:, 2].tolist() == pytest.approx(expected)
    assert out[:, :2].tolist() == [[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]]


def test_each_kernel_of_minibatch_discrimination_is_summed_on_its_own():
    mbd = MinibatchDiscrimination(2, kernels=2, kernel_dim=1)
    with torch.no_grad():
        mbd.T.copy_(torch.eye(2))  # kernel b reads feature b
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]], requires_grad=True)
    out = mbd(x)
    e = math.exp
    assert out[:, 2].tolist() == pytest.approx([e(-1) + e(-3), e(-1) + e(-2), e(-3) + e(-2)])
    assert out[:, 3].tolist() == pytest.approx([e(-2) + e(-1), e(-2) + e(-1), e(-1) + e(-1)])
    out[:, 2:].sum().backward()  # d/dx_i0 of sum_i,j exp(-|x_i0 - x_j0|): 2 sum_j -sign(x_i0 - x_j0) exp(-|.|)
    assert x.grad[0, 0].item() == pytest.approx(2 * (e(-1) + e(-3)))


def test_the_discriminator_returns_features_and_class_logits():
    f, logits = MinibatchDiscriminator((1, 32, 32), num_classes=5, width=4)(torch.rand(3, 1, 32, 32))
    assert f.shape == (3, 16 * 16) and logits.shape == (3, 5)


def test_the_kedmi_gan_is_keyed_by_the_target_and_shared_by_seeds(tmp_path):
    assert PRIORS.get("kedmi-gan").scope == "target"
    opts = RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False)
    first = Pipeline(resolve("tiny", "none", "kedmi", "quick"), opts).run()
    assert first.cache["built"].count("priors") == 1 and first.attack_queries > 0
    again = Pipeline(resolve("tiny", "none", "kedmi", "quick", seed=1), opts).run()
    assert "priors" in again.cache["reused"]
    # the GAN's queries count in every run that uses it: the same total, cold or warm
    assert again.attack_queries == first.attack_queries
    other = Pipeline(resolve("tiny", "calor", "kedmi", "quick"), opts).run()
    assert other.cache["built"].count("priors") == 1  # another target: another GAN


def test_the_discriminator_sees_one_batch_of_one_seeds_identities_at_a_time(tmp_path, monkeypatch):
    """KED-MI's minibatch discrimination compares the images of a batch: the recovery gives it one
    seed's identities, ``batch_identities`` at a time (version 1 gave it every seed's at once)."""
    opts = RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False)
    overrides = {"attack": {"batch_identities": 2}}
    Pipeline(resolve("tiny", "none", "kedmi", "quick", overrides=overrides), opts).run()  # trains the GAN
    sizes = []
    forward = MinibatchDiscriminator.forward
    monkeypatch.setattr(MinibatchDiscriminator, "forward", lambda self, x: (sizes.append(len(x)), forward(self, x))[1])
    record = Pipeline(resolve("tiny", "none", "kedmi", "quick", seed=1, overrides=overrides), opts).run()
    assert "priors" in record.cache["reused"]  # so the discriminator ran in the recovery only
    assert sizes == [2, 1, 2, 1] * record.spec["attack_params"]["steps"]  # classes 0-2 in batches of 2, 2 seeds
