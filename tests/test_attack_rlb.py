"""RLB-MI: its reward, latent update and SAC losses by hand, the agents' independence, a bandit the
agents must learn, and a black-box run through the pipeline (its view, its queries, its budget)."""

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mibench import runner
from mibench.access import BlackBox, view_for
from mibench.attack import AttackBudget, AttackContext
from mibench.attacks.rlb import RLBMI, SeedStreams, keep_best, mix_latents, rlb_reward
from mibench.attacks.rlb.sac import (AgentLinear, SACAgents, actor_loss, critic_loss, critic_target, soft_update,
                                     squashed_gaussian, temperature_loss)
from mibench.errors import QueryBudgetError
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # 0.918939


def test_reward_by_hand():
    p_state = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.7, 0.1]])
    p_action = torch.tensor([[0.25, 0.5, 0.25], [0.2, 0.7, 0.1]])
    r = rlb_reward(p_state, p_action, torch.tensor([0, 0]), 2.0, 2.0, 8.0)
    # row 0: 2 log 0.5 + 2 log 0.25 + 8 log(0.5 - 0.3) = -1.386294 - 2.772589 - 12.875503 = -17.034386
    # row 1: the rival wins, the margin is floored: 4 log 0.2 + 8 log 1e-7 = -6.437752 - 128.944765 = -135.382517
    assert r.tolist() == pytest.approx([-17.034386, -135.382517], rel=1e-6)


def test_reward_of_a_zero_probability_is_finite():
    r = rlb_reward(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([0]), 2.0, 2.0, 8.0)
    assert torch.isfinite(r).all()


def test_latent_update_by_hand():
    z, a = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -0.5])
    assert mix_latents(z, a, 0.25).tolist() == [0.625, 0.125]  # 0.25 (1, 2) + 0.75 (0.5, -0.5)
    assert torch.equal(mix_latents(z, a, 0.0), a)  # the paper's setting: the action is the next latent


def test_squashed_gaussian_by_hand():
    # dim 1: mu 0, sigma 1, e 0: a = 0, log N = -0.918939, squash -log(1 + 1e-6)
    # dim 2: mu 0, sigma 0.5, e = 2 atanh(0.6) = 1.386294: u = atanh(0.6), a = 0.6,
    #        log N = -0.5 e^2 - log 0.5 - 0.918939 = -0.960906 + 0.693147 - 0.918939 = -1.186698,
    #        squash -log(0.64 + 1e-6) = 0.446286
    e2 = 2 * math.atanh(0.6)
    a, logp = squashed_gaussian(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(0.5)]]),
                                torch.tensor([[0.0, e2]]))
    assert a[0].tolist() == pytest.approx([0.0, 0.6])
    expected = (-HALF_LOG_2PI - math.log(1 + 1e-6) - 1.186698 - math.log(0.64 + 1e-6)) / 2  # the mean: -0.829676
    assert logp.tolist() == pytest.approx([expected], rel=1e-5)
    assert expected == pytest.approx(-0.829676, rel=1e-5)


def test_critic_target_by_hand():
    y = critic_target(reward=torch.tensor([[1.0, 2.0]]), done=torch.tensor([[0.0, 1.0]]),
                      q1_next=torch.tensor([[3.0, 5.0]]), q2_next=torch.tensor([[4.0, 1.0]]),
                      logp_next=torch.tensor([[0.5, 0.5]]), alpha=torch.tensor([2.0]), gamma=0.9)
    # 1 + 0.9 (min(3, 4) - 2 x 0.5) = 2.8; the second transition ends its episode: y = r = 2
    assert y[0].tolist() == pytest.approx([2.8, 2.0])


def test_critic_loss_by_hand():
    assert critic_loss(torch.tensor([[1.0, 4.0]]), torch.tensor([[2.0, 2.0]])).tolist() == [1.25]  # (1 + 4) / 2 / 2


def test_actor_loss_by_hand_and_the_temperature_gets_no_gradient():
    alpha = torch.tensor([0.5], requires_grad=True)
    loss = actor_loss(torch.tensor([[1.0, 3.0]]), torch.tensor([[-1.0, 2.0]]), alpha)
    assert loss.tolist() == [-1.75]  # mean(0.5 x -1 - 1, 0.5 x 2 - 3) = mean(-1.5, -2)
    assert not loss.requires_grad


def test_temperature_loss_by_hand():
    log_alpha = torch.tensor([math.log(2.0)], requires_grad=True)
    logp = torch.tensor([[-1.0, 3.0]], requires_grad=True)
    loss = temperature_loss(log_alpha, logp, target_entropy=-2.0)
    assert loss.tolist() == pytest.approx([math.log(2.0)])  # -log 2 x mean(-3, 1) = log 2
    loss.sum().backward()
    assert log_alpha.grad.tolist() == [1.0]  # -mean(log pi + H): entropy below target, alpha falls
    assert logp.grad is None


def test_soft_update_by_hand():
    target, source = nn.Linear(1, 1), nn.Linear(1, 1)
    nn.init.zeros_(target.weight), nn.init.zeros_(target.bias), nn.init.ones_(source.weight), nn.init.ones_(source.bias)
    soft_update(target, source, 0.01)
    assert target.weight.item() == pytest.approx(0.01) and target.bias.item() == pytest.approx(0.01)


def test_keep_best_keeps_the_k_most_confident_and_a_tie_replaces():
    scores, latents = torch.tensor([[0.75, 0.5]]), torch.tensor([[[1.0], [2.0]]])
    s, z = keep_best(scores, latents, torch.tensor([0.5]), torch.tensor([[3.0]]))
    assert s.tolist() == [[0.75, 0.5]] and z.tolist() == [[[1.0], [3.0]]]
    s, z = keep_best(scores, latents, torch.tensor([1.0]), torch.tensor([[3.0]]))
    assert s.tolist() == [[1.0, 0.75]] and z.tolist() == [[[3.0], [1.0]]]


def test_agent_linear_applies_each_agents_own_weights():
    layer = AgentLinear(SeedStreams([torch.Generator().manual_seed(0)], 3, torch.device("cpu")).uniform, 4, 2)
    x = torch.randn(3, 5, 4)
    for k in range(3):
        assert torch.allclose(layer(x)[k], x[k] @ layer.weight[k] + layer.bias[k], atol=1e-6)


def make_agents(seeds, batch_size=4, hidden=8, dim=3):
    rng = SeedStreams([torch.Generator().manual_seed(s) for s in seeds], 1, torch.device("cpu"))
    agents = SACAgents(len(seeds), dim, hidden, lr_actor=1e-2, lr_critic=1e-2, gamma=0.99, tau=0.1,
                       batch_size=batch_size, buffer_size=50, uniform=rng.uniform, normal=rng.normal,
                       device=torch.device("cpu"))
    return agents, rng


def test_agents_trained_together_learn_exactly_as_alone():
    together, rng_t = make_agents([0, 1])
    alone, rng_a = make_agents([0])
    data = torch.Generator().manual_seed(5)
    for step in range(10):
        s, a, s2 = (torch.randn(2, 3, generator=data) for _ in range(3))
        r = torch.randn(2, generator=data)
        together.buffer.add(s, a, r, s2, 1.0)
        alone.buffer.add(s[:1], a[:1], r[:1], s2[:1], 1.0)
        if together.buffer.size > 4:
            together.learn(rng_t.choice(together.buffer.size, 4))
            alone.learn(rng_a.choice(alone.buffer.size, 4))
    assert together.updates == alone.updates == 6  # steps 5 to 10: the buffer holds more than 4
    for net_t, net_a in [(together.actor, alone.actor), (together.critics[1], alone.critics[1]),
                         (together.targets[0], alone.targets[0])]:
        for pt, pa in zip(net_t.parameters(), net_a.parameters()):
            assert torch.allclose(pt[:1], pa, atol=1e-5)
    assert torch.allclose(together.log_alpha[:1], alone.log_alpha, atol=1e-6)


def test_agents_learn_a_bandit():
    """Reward +a_0 for agent 0 and -a_0 for agent 1: their policies must push a_0 to +1 and -1."""
    agents, rng = make_agents([0, 1], batch_size=16, hidden=32, dim=2)
    sign = torch.tensor([1.0, -1.0])
    for _ in range(300):
        s = rng.normal((2,))
        a = agents.act(s)
        agents.buffer.add(s, a, sign * a[:, 0], s, 1.0)
        if agents.buffer.size > 16:
            agents.learn(rng.choice(agents.buffer.size, 16))
    actions = torch.stack([agents.act(rng.normal((2,))) for _ in range(50)])  # 50 x agents x dim
    assert actions[:, 0, 0].mean() > 0.8 and actions[:, 1, 0].mean() < -0.8


class Linear2Classes(nn.Module):
    """A target that prefers class 0 when the image's first pixel is bright."""

    def forward(self, x):
        v = x.flatten(1)[:, 0]
        return torch.stack([10 * (v - 0.5), -10 * (v - 0.5)], 1)


def direct_run(seeds, episodes=30):
    generator = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Unflatten(1, (1, 2, 2)))
    torch.manual_seed(0)
    generator[0].reset_parameters()
    prior = SimpleNamespace(generator=generator.requires_grad_(False), dim_z=4)
    view = BlackBox(Linear2Classes(), 2, (1, 2, 2))
    ctx = AttackContext(target=view, public=None, budget=AttackBudget(classes=(0, 1), per_class=2, seeds=seeds),
                        image_shape=(1, 2, 2), num_classes=2, device=torch.device("cpu"), seed=3, artifact=None,
                        prior=lambda name: prior)
    attack = RLBMI({"episodes": episodes, "hidden": 8, "batch_size": 8})
    return attack.run(ctx), view


def test_a_direct_run_is_deterministic_and_a_seeds_result_ignores_the_other_seeds():
    one, view = direct_run(seeds=1)
    assert view.queries == 30 * 2 * 2  # episodes x agents x (the step's image + the test image)
    assert one.notes["agents"] == 2 and one.notes["sac_updates"] == 30 - 8
    again, _ = direct_run(seeds=1)
    two, _ = direct_run(seeds=2)
    assert torch.equal(one.images, again.images)
    assert torch.equal(two.images[:4], one.images) and two.labels.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]


def run_rlb(tmp_path, monkeypatch, overrides=None):
    """RLB on tiny against classes 1 and 3, two images each, two seeds; returns the views the runner built."""
    built = []

    def recording_view_for(*args, **kwargs):
        built.append(view_for(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(runner, "view_for", recording_view_for)
    pipe = Pipeline(resolve("tiny", "none", "rlb", "quick", overrides=overrides),
                    RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False))
    pipe.profile = dataclasses.replace(pipe.profile, budget=AttackBudget(classes=(1, 3), per_class=2, seeds=2))
    return pipe, pipe.prepare(), built


def test_rlb_gets_the_black_box_view_and_counts_its_queries(tmp_path, monkeypatch):
    pipe, prep, built = run_rlb(tmp_path, monkeypatch)
    recon, queries = pipe.reconstruct(prep)
    (view,) = built
    assert type(view) is BlackBox and not hasattr(view, "logits")
    assert len(recon.images) == pipe.profile.budget.total == 8
    assert recon.labels.tolist() == [1, 1, 3, 3, 1, 1, 3, 3] and recon.seed_index.tolist() == [0] * 4 + [1] * 4
    episodes = pipe.attack.params.episodes
    assert queries == episodes * 4 * 2  # 4 agents (2 classes x 2 seeds), 2 images each per episode
    assert recon.notes["agents"] == 4 and recon.notes["episodes"] == episodes
    assert recon.notes["sac_updates"] == episodes - pipe.attack.params.batch_size
    x = torch.rand(1, *pipe.suite.image_shape, requires_grad=True)
    out = view(x)
    assert not out.requires_grad  # no gradient reaches the attacker
    with pytest.raises(RuntimeError):
        torch.autograd.grad(out.sum(), x)


def test_rlb_stops_at_its_declared_query_budget(tmp_path, monkeypatch):
    pipe, prep, _ = run_rlb(tmp_path, monkeypatch, {"attack": {"max_queries": "20"}})
    assert pipe.attack.query_budget() == 20
    with pytest.raises(QueryBudgetError, match="attack 'rlb' declared a budget of 20 target queries"):
        pipe.reconstruct(prep)
