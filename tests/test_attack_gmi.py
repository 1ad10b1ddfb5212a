"""GMI and its public prior: the losses and the update rule by hand, the networks' shapes, and the
prior's scope through the pipeline (one WGAN-GP per suite, shared across defenses)."""

import math

import pytest
import torch
from torch import nn

from mibench.attacks.gmi import GMI, gmi_loss, nesterov_step
from mibench.attacks.gmi.networks import Critic, Generator
from mibench.attacks.gmi.prior import critic_loss, gradient_penalty
from mibench.cache import content_key
from mibench.errors import ConfigError
from mibench.registries import ATTACKS, PRIORS
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # ||w|| = 5
    real, fake = torch.rand(6, 1, 2, 2), torch.rand(6, 1, 2, 2)
    assert gradient_penalty(Linear(w), real, fake, torch.rand(6)).item() == pytest.approx((5 - 1) ** 2)


def test_gradient_penalty_is_taken_at_the_interpolate():
    class Square(nn.Module):  # D(x) = sum x^2 / 2: grad = x^
        def forward(self, x):
            return (x.flatten(1) ** 2).sum(1) / 2

    real, fake = torch.zeros(1, 1, 1, 2), torch.tensor([[[[3.0, 4.0]]]])
    # x^ = 0 + 0.4 * (fake - 0) = (1.2, 1.6); ||x^|| = 2 -> (2 - 1)^2 = 1
    assert gradient_penalty(Square(), real, fake, torch.tensor([0.4])).item() == pytest.approx(1.0)


def test_critic_loss_is_minus_the_wasserstein_estimate_plus_the_weighted_penalty():
    loss = critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0]), torch.tensor(0.5), 10.0)
    assert loss.item() == pytest.approx(-(3.0 - 0.0) + 5.0)


def test_gmi_loss_by_hand():
    logits, scores = torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([0.5, -1.0])
    loss = gmi_loss(logits, scores, torch.tensor([0, 1]), lam=100.0)
    assert loss.tolist() == pytest.approx([100 * math.log(1 + math.exp(-2)) - 0.5, 100 * math.log(2) + 1.0])


def test_nesterov_step_by_hand_and_clipped():
    z, v, g = torch.tensor([0.5, 0.9]), torch.tensor([0.1, 0.2]), torch.tensor([1.0, -10.0])
    z2, v2 = nesterov_step(z, v, g, lr=0.01, momentum=0.9, clip=1.0)
    # v' = 0.9 v - 0.01 g = (0.08, 0.28); z' = z - 0.9 v + 1.9 v' = (0.5 - 0.09 + 0.152, 0.9 - 0.18 + 0.532)
    assert v2.tolist() == pytest.approx([0.08, 0.28])
    assert z2.tolist() == pytest.approx([0.562, 1.0])  # 1.252 clipped to 1


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 64, 64)])
def test_wgan_networks_map_latents_to_images_in_0_1_and_images_to_one_score(shape):
    G, D = Generator(shape, width=4, dim_z=10), Critic(shape, width=4)
    x = G(torch.randn(3, 10))
    assert x.shape == (3, *shape) and 0 <= x.min() and x.max() <= 1
    assert D(x).shape == (3,)


def test_gmi_declares_the_public_wgan_prior():
    assert ATTACKS.get("gmi").priors == ("gmi-wgan",)
    assert PRIORS.get("gmi-wgan").scope == "public"


def test_prior_params_are_resolved_scaled_and_overridable_and_join_the_config_hash():
    spec = resolve("tiny", "none", "gmi", "quick")
    assert spec.prior_params["gmi-wgan"]["width"] == 4  # the profile's override
    assert spec.prior_params["gmi-wgan"]["generator_steps"] == 2  # 18,750 x 1e-4
    other = resolve("tiny", "none", "gmi", "quick", overrides={"prior.gmi-wgan": {"width": "8"}})
    assert other.prior_params["gmi-wgan"]["width"] == 8 and other.config_hash != spec.config_hash
    with pytest.raises(ConfigError, match="prior.<name> with <name> a prior attack 'plg' requests"):
        resolve("tiny", "none", "plg", "quick", overrides={"prior.gmi-wgan": {"width": "8"}})
    with pytest.raises(ConfigError, match="prior 'gmi-wgan' has no parameter 'depth'"):
        resolve("tiny", "none", "gmi", "quick", overrides={"prior.gmi-wgan": {"depth": "8"}})


def test_an_attack_without_priors_keeps_the_config_hash_it_had_before_priors_existed():
    spec = resolve("tiny", "none", "plg", "quick")
    before = {k: v for k, v in spec.to_dict().items() if k not in ("seed", "prior_params", "suite_params", "weights")}
    assert spec.prior_params == spec.suite_params == spec.weights == {}
    assert spec.config_hash == content_key(before)[:16]


def test_an_attack_requesting_an_unregistered_prior_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(GMI, "priors", ("stylegan-ffhq",))
    with pytest.raises(ConfigError, match="requests the prior 'stylegan-ffhq', which nothing registered; "
                                          "registered priors: gmi-wgan"):
        resolve("tiny", "none", "gmi", "quick")


def test_an_attack_asking_for_a_prior_it_did_not_declare_gets_a_clear_error(tmp_path, monkeypatch):
    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"), RunOptions(device="cpu", out=tmp_path / "runs"))
    monkeypatch.setattr(type(pipe.attack), "run", lambda self, ctx: ctx.prior("gmi-wgan"))
    with pytest.raises(ConfigError, match="attack 'plg' asked for the prior 'gmi-wgan' without declaring it"):
        pipe.reconstruct(pipe.prepare())


def test_the_public_prior_is_trained_once_and_shared_by_targets_and_seeds(tmp_path):
    opts = RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")
    first = Pipeline(resolve("tiny", "none", "gmi", "quick"), opts).run()
    assert first.cache["built"].count("priors") == 1
    assert first.components["priors"][0]["name"] == "gmi-wgan" and "prior:gmi-wgan" in first.timings
    for defense, seed in (("calor", 0), ("none", 1)):
        record = Pipeline(resolve("tiny", defense, "gmi", "quick", seed=seed), opts).run()
        assert "priors" in record.cache["reused"] and "priors" not in record.cache["built"]


def test_a_corrupted_prior_in_the_cache_is_detected_and_rebuilt(tmp_path, private_cache):
    opts = RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False)
    Pipeline(resolve("tiny", "none", "gmi", "quick"), opts).run()
    (entry,) = [p for p in (private_cache / "priors").rglob("*") if p.is_file() and p.suffix != ".json"]
    entry.write_bytes(b"not a prior")
    record = Pipeline(resolve("tiny", "none", "gmi", "quick"), opts).run()
    assert "priors" in record.cache["built"]
