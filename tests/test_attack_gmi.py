"""GMI and its public prior: the losses and the update rule by hand, the networks' shapes, and the
prior's scope through the pipeline (one WGAN-GP per suite, shared across defenses)."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mibench.attack import AttackBudget, AttackContext
from mibench.attacks.gmi import GMI, Inversion, gmi_loss, loss_divisors, nesterov_step
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


def linear_problem(per_class: int, classes: tuple[int, ...] = (0, 1, 2), seeds: int = 2) -> AttackContext:
    """A frozen linear generator, critic and target: G(z) = z A (3 -> 1 x 1 x 2), D(x) = <w, x>, logits x B."""
    gen = torch.Generator().manual_seed(0)
    A, w, B = torch.randn(3, 2, generator=gen), torch.randn(2, generator=gen), torch.randn(2, 3, generator=gen)
    prior = SimpleNamespace(dim_z=3, generator=lambda z: (z @ A).reshape(-1, 1, 1, 2),
                            critic=lambda x: x.flatten(1) @ w)
    return AttackContext(target=SimpleNamespace(logits=lambda x: x.flatten(1) @ B), public=None,
                         budget=AttackBudget(classes=classes, per_class=per_class, seeds=seeds),
                         image_shape=(1, 1, 2), num_classes=3, device=torch.device("cpu"), seed=0,
                         artifact=None, prior=lambda name: prior)


def first_step(attack: GMI, ctx: AttackContext, chunk: int | None = None,
               start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The latents before and after one inversion step (``chunk``: groups per chunk of the gradient;
    ``start``: the latents to start from instead of the drawn ones)."""
    inversion = Inversion(attack, ctx)
    if chunk is not None:
        inversion.gradient.chunk = chunk
    if start is not None:
        inversion.z = start.clone()
    z0 = inversion.z.clone()
    inversion.step()
    return z0, inversion.z


def hand_gradients(attack: GMI, ctx: AttackContext, z: torch.Tensor) -> torch.Tensor:
    """Each latent's gradient of its own loss, lambda CE(T(G(z)), c) - D(G(z)), one latent at a time."""
    prior, loss = ctx.prior("gmi-wgan"), attack.latent_loss(ctx)
    labels, _ = ctx.budget.labels_and_seeds()
    grads = []
    for zi, y in zip(z, labels):
        zi = zi[None].clone().requires_grad_(True)
        x = prior.generator(zi)
        (g,) = torch.autograd.grad(loss(x, prior.critic(x), y[None]).sum(), zi)
        grads.append(g[0])
    return torch.stack(grads)


@pytest.mark.parametrize("batch_identities,divisors", [(3, [3, 3, 3]), (2, [2, 2, 1]), (100, [3, 3, 3])])
def test_one_step_moves_each_latent_by_lr_grad_over_the_identities_of_its_batch(batch_identities, divisors):
    # GMI's Nesterov rule from v = 0: v' = -lr g / b, z' = z + (1 + m) v'. Version 1 divided by
    # classes x per_class = 6 here, whatever batch_identities.
    attack = GMI({"lr": 0.05, "momentum": 0.9, "clip": 100.0, "batch_identities": batch_identities})
    ctx = linear_problem(per_class=2)
    z0, z1 = first_step(attack, ctx)
    per_latent = torch.tensor(divisors, dtype=torch.float32).repeat_interleave(2).repeat(2)[:, None]
    expected = z0 - (1 + 0.9) * 0.05 * hand_gradients(attack, ctx, z0) / per_latent
    assert torch.allclose(z1, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(z1, z0 - 1.9 * 0.05 * hand_gradients(attack, ctx, z0) / 6, rtol=1e-3, atol=0)


def test_the_divisor_does_not_depend_on_the_images_per_class():
    # every image of a class and seed starts from the same latent: 4 images per class step as 1 does
    attack = GMI({"lr": 0.05, "clip": 100.0, "batch_identities": 3})
    starts = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1))  # seed x class x dim_z
    after = {}
    for per_class in (1, 4):
        z0 = starts.repeat_interleave(per_class, dim=1).reshape(-1, 3)
        _, after[per_class] = first_step(attack, linear_problem(per_class), start=z0)
    assert torch.allclose(after[4][::4], after[1], rtol=1e-6, atol=1e-7)
    assert not torch.allclose(after[1], starts.reshape(-1, 3), rtol=1e-3, atol=0)  # the step is not 0


def test_a_chunked_step_is_the_whole_batch_step():
    attack = GMI({"lr": 0.05, "clip": 100.0, "batch_identities": 2})
    _, whole = first_step(attack, linear_problem(per_class=2))
    _, chunked = first_step(attack, linear_problem(per_class=2), chunk=1)  # one latent per chunk
    assert torch.allclose(whole, chunked, rtol=1e-6, atol=1e-7)


def test_loss_divisors_are_the_identities_of_each_latents_batch():
    assert loss_divisors(5, 4, 2, 5).tolist() == [5.0] * 40
    assert loss_divisors(3, 1, 2, 2).tolist() == [2.0, 2.0, 1.0] * 2
    assert loss_divisors(300, 1, 5, 60).unique().tolist() == [60.0]


def test_batch_identities_defaults_and_the_mnist_profiles():
    assert GMI.Params().batch_identities == 100  # GMI's CelebA code
    assert ATTACKS.get("lomma-gmi").Params().batch_identities == 60  # LOMMA's recovery.py
    for attack in ("gmi", "lomma-gmi"):
        for profile in ("full", "quick"):
            assert resolve("mnist", "none", attack, profile).attack_params["batch_identities"] == 5
    control = resolve("mnist", "none", "gmi", "full", control=True).attack_params
    assert (control["lam"], control["batch_identities"]) == (0.0, 5)
    for attack, value in (("gmi", 100), ("lomma-gmi", 60)):
        assert resolve("celeba64", "none", attack, "full").attack_params["batch_identities"] == value


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
