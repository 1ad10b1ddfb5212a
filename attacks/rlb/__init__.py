"""RLB-MI: Reinforcement Learning-Based Black-Box Model Inversion (Han et al., CVPR 2023). Black-box.

Code: github.com/HanGyojin/RLB-MI. The attack sees only the target's soft labels. For each
attacked class y a soft actor-critic agent (:mod:`.sac`) learns to move in the latent space of
the public prior ``gmi-wgan`` (the GMI generator G, ``z ~ N(0, I_100)``):

- an episode starts at ``z ~ N(0, I)``; at each of its ``episode_steps`` = 1 steps the state is
  the latent z, the action ``a = tanh(mu + sigma e)`` is a point of ``(-1, 1)^D`` and the latent
  moves to ``z' = mix z + (1 - mix) a`` (the paper's alpha; 0 in its experiments, so z' = a);
- reward, from the target's probabilities p only (weights w = (2, 2, 8), floor 1e-7):

      r = w1 log p_y(G(z')) + w2 log p_y(G(a)) + w3 log max(1e-7, p_y(G(z')) - max_{k != y} p_k(G(z')))

- after each step the transition goes to the replay buffer (10^6, batch 256) and, once the buffer
  holds more than a batch, the agent takes one SAC step: two critics and their target copies
  (tau = 0.01), gamma = 0.99, Adam lr 5e-4 for the actor, the critics and the temperature,
  256 hidden units, the temperature learned towards the entropy -D (losses in :mod:`.sac`);
- after each episode the agent is tested: one fresh episode from ``z ~ N(0, I)`` with sampled
  actions, scored by ``p_y(G(z))``; the reconstruction is the test image of highest confidence
  over all 40,000 episodes (a later one replaces an equal one).

mibench trains one agent per attacked class and budget seed, all in one batch (each with its own
weights, optimiser state, buffer and random stream from ``ctx.latent_generator(seed)``, so a
seed's result does not depend on the others), and returns the ``per_class`` best test images of
each agent. Deviations from the official code:

- the official agent keeps one image per class; with ``per_class`` > 1 mibench keeps that many
  test images per agent, the most confident ones;
- the official policy draws a single N(0, 1) scalar per call and adds it to every latent
  dimension (``Normal(0, 1).sample()``); mibench draws one per dimension, as SAC's diagonal
  Gaussian policy (Haarnoja et al., 2018);
- the official code seeds both critics identically, so they stay equal and the clipped double-Q
  minimum is void; mibench initialises them independently, as SAC;
- the official code queries the target three times per episode (G(z'), G(a) and the test); with
  ``mix`` = 0, ``z' = a`` and mibench reuses the first answer for the second (same image, same
  probabilities): two queries per episode;
- log-probabilities are floored at the smallest positive float, so a probability that underflows
  to 0 gives a very low but finite reward instead of -inf;
- the official code initialises every class's agent from the same seed (42); mibench draws each
  agent's initial weights from its seed's stream, so the agents of one seed start differently;
- the critic target uses the current temperature (the official one lags one update behind); with
  one step per episode every transition ends its episode and the term vanishes (y = r).

Kept from the official code although unusual: ``log pi`` is the mean over the latent dimensions
(not the sum) while the target entropy is ``-D``, so the temperature keeps falling (by about the
learning rate per update); the actor loss uses the first critic only. ``max_queries`` declares a
query budget (0: none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.components import param
from mibench.hotloops import HotLoop
from mibench.progress import progress
from mibench.training import check_finite

from .sac import SACAgents

PRIOR = "gmi-wgan"


def mix_latents(z: torch.Tensor, action: torch.Tensor, mix: float) -> torch.Tensor:
    """The next state ``z' = mix z + (1 - mix) a``."""
    return mix * z + (1 - mix) * action


def _log(p: torch.Tensor) -> torch.Tensor:
    return p.clamp_min(torch.finfo(p.dtype).tiny).log()


def rlb_reward(p_state: torch.Tensor, p_action: torch.Tensor, labels: torch.Tensor, w_state: float,
               w_action: float, w_margin: float, floor: float = 1e-7) -> torch.Tensor:
    """``w_state log p_y(G(z')) + w_action log p_y(G(a)) + w_margin log max(floor, p_y(G(z')) - max_{k!=y} p_k(G(z')))``
    from the target's probabilities (``N x classes``) of the two images; one reward per row."""
    y = labels.view(-1, 1)
    p_y = p_state.gather(1, y).squeeze(1)
    rival = p_state.scatter(1, y, float("-inf")).amax(1)
    margin = (p_y - rival).clamp_min(floor)
    return w_state * _log(p_y) + w_action * _log(p_action.gather(1, y).squeeze(1)) + w_margin * margin.log()


def keep_best(scores: torch.Tensor, latents: torch.Tensor, new_scores: torch.Tensor,
              new_latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each agent's ``k`` best (score, latent) pairs (``A x k``, ``A x k x D``) after adding one
    candidate each (``A``, ``A x D``); a candidate replaces a kept pair of equal score."""
    all_scores = torch.cat([new_scores.unsqueeze(1), scores], 1)
    all_latents = torch.cat([new_latents.unsqueeze(1), latents], 1)
    order = all_scores.sort(dim=1, descending=True, stable=True).indices[:, : scores.shape[1]]
    return all_scores.gather(1, order), all_latents.gather(1, order.unsqueeze(2).expand(-1, -1, latents.shape[2]))


class SeedStreams:
    """Random numbers for ``len(generators)`` blocks of ``per_block`` agents, block s drawn from
    generator s only (CPU generators, so a run is the same on every device)."""

    def __init__(self, generators: list[torch.Generator], per_block: int, device: torch.device):
        self.generators, self.per_block, self.device = generators, per_block, device

    def _draw(self, draw) -> torch.Tensor:
        return torch.cat([draw(g) for g in self.generators]).to(self.device)

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return self._draw(lambda g: torch.randn(self.per_block, *shape, generator=g))

    def uniform(self, shape: tuple[int, ...], bound: float) -> torch.Tensor:
        return self._draw(lambda g: (2 * torch.rand(self.per_block, *shape, generator=g) - 1) * bound)

    def choice(self, n: int, k: int) -> torch.Tensor:
        """``k`` distinct indices of ``range(n)`` per agent."""
        return self._draw(lambda g: torch.multinomial(torch.ones(self.per_block, n), k, generator=g))


class RLBMI(Attack):
    name = "rlb"
    version = "1"
    paper = "Han et al., Reinforcement Learning-Based Black-Box Model Inversion Attacks, CVPR 2023"
    code = "https://github.com/HanGyojin/RLB-MI"
    access = Access.BLACK_BOX
    priors = (PRIOR,)

    @dataclass(frozen=True)
    class Params:
        episodes: int = param(40000, budget="iterations", min=1,
                              help="episodes per agent; one SAC update per step once the buffer exceeds a batch")
        episode_steps: int = param(1, min=1, help="latent moves per episode")
        mix: float = param(0.0, min=0.0, max=1.0, help="z' = mix z + (1 - mix) a (the paper's alpha)")
        w_state: float = param(2.0, min=0.0, help="weight of log p_y(G(z'))")
        w_action: float = param(2.0, min=0.0, help="weight of log p_y(G(a))")
        w_margin: float = param(8.0, min=0.0, help="weight of log max(floor, p_y - max_{k!=y} p_k) of G(z')")
        margin_floor: float = param(1e-7, min=0.0)
        hidden: int = param(256, min=1, help="units of the actor's and the critics' two hidden layers")
        lr_actor: float = param(5e-4, min=0.0, help="Adam lr of the actor and of the temperature")
        lr_critic: float = param(5e-4, min=0.0)
        gamma: float = param(0.99, min=0.0, max=1.0)
        tau: float = param(1e-2, min=0.0, max=1.0, help="target critics' soft-update rate")
        batch_size: int = param(256, min=1, help="replay batch; learning starts once the buffer holds more")
        buffer_size: int = param(1_000_000, min=1)
        max_queries: int = param(0, min=0, help="query budget; 0: unbounded")

    def query_budget(self) -> int | None:
        return self.params.max_queries or None

    def run(self, ctx: AttackContext) -> Reconstructions:
        p, training = self.params, Training(self, ctx)
        with progress("rlb: soft actor-critic agents", p.episodes) as advance:
            for episode in range(p.episodes):
                reward = training.episode()
                advance(reward=reward.mean().item(), best=training.best[:, 0].mean().item())
        agents, best = training.agents, training.best
        notes = {"agents": len(training.y), "episodes": p.episodes, "sac_updates": agents.updates,
                 "final_mean_reward": reward.mean().item(), "kept_confidence_mean": best.mean().item(),
                 "final_alpha_mean": agents.log_alpha.detach().exp().mean().item()}
        labels, seeds = ctx.budget.labels_and_seeds()
        with torch.no_grad():
            return Reconstructions(training.G(training.best_z.view(-1, training.dim)), labels, seeds, notes)

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """``episode``: one episode of every agent without its SAC updates (its moves' and its test's
        queries, the rewards, the replay buffer); ``SAC update``: one update of every agent from a
        replay batch, once episodes have filled the buffer beyond a batch."""
        p, exploring, learning = self.params, Training(self, ctx), Training(self, ctx)
        while learning.agents.buffer.size <= p.batch_size:
            learning.episode(learn=False)
        queries = p.episode_steps * (1 if p.mix == 0 else 2) + 1
        return {"episode": HotLoop(lambda: exploring.episode(learn=False), len(exploring.y) * queries),
                "SAC update": HotLoop(learning.learn, len(learning.y) * p.batch_size)}


class Training:
    """Every agent of the budget (one per attacked class and seed) with its random stream and its
    best test images: :meth:`episode` is one episode of all of them, :meth:`learn` one SAC update."""

    def __init__(self, attack: RLBMI, ctx: AttackContext):
        p, dev = attack.params, ctx.device
        self.p, self.ctx = p, ctx
        prior = ctx.prior(PRIOR)
        self.G, self.dim = prior.generator, prior.dim_z
        per_seed, keep = len(ctx.budget.classes), ctx.budget.per_class
        self.y = torch.tensor(ctx.budget.classes).repeat(ctx.budget.seeds).to(dev)  # agent = seed x classes + class
        self.rng = SeedStreams([ctx.latent_generator(s) for s in range(ctx.budget.seeds)], per_seed, dev)
        self.agents = SACAgents(len(self.y), self.dim, p.hidden, lr_actor=p.lr_actor, lr_critic=p.lr_critic,
                                gamma=p.gamma, tau=p.tau, batch_size=p.batch_size,
                                buffer_size=min(p.buffer_size, p.episodes * p.episode_steps),
                                uniform=self.rng.uniform, normal=self.rng.normal, device=dev)
        self.best = torch.full((len(self.y), keep), float("-inf"), device=dev)
        self.best_z = torch.zeros(len(self.y), keep, self.dim, device=dev)

    def probs(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.ctx.target(self.G(z))

    def episode(self, learn: bool = True) -> torch.Tensor:
        """One episode of every agent: each move goes to the replay buffer and is followed by a SAC
        update (:meth:`learn`) once the buffer holds more than a batch (never with ``learn=False``),
        then the test episode updates the best images. Returns the last move's rewards."""
        p, agents, rng = self.p, self.agents, self.rng
        z = rng.normal((self.dim,))
        for t in range(p.episode_steps):
            a = agents.act(z)
            z_next = mix_latents(z, a, p.mix)
            p_state = self.probs(z_next)
            reward = rlb_reward(p_state, p_state if p.mix == 0 else self.probs(a), self.y, p.w_state, p.w_action,
                                p.w_margin, p.margin_floor)
            agents.buffer.add(z, a, reward, z_next, float(t == p.episode_steps - 1))
            if learn and agents.buffer.size > p.batch_size:
                self.learn()
            z = z_next
        z_test = rng.normal((self.dim,))
        for _ in range(p.episode_steps):
            z_test = mix_latents(z_test, agents.act(z_test), p.mix)
        score = self.probs(z_test).gather(1, self.y.view(-1, 1)).squeeze(1)
        self.best, self.best_z = keep_best(self.best, self.best_z, score, z_test)
        return reward

    def learn(self) -> None:
        """One SAC update of every agent from a random replay batch of its own."""
        losses = self.agents.learn(self.rng.choice(self.agents.buffer.size, self.p.batch_size))
        check_finite(losses["critic1"], "attack rlb, stage SAC", self.agents.updates - 1)
