"""Soft actor-critic (Haarnoja et al., 2018) for many independent agents at once, as RLB-MI uses it.

Every network holds one set of weights per agent (a leading agent dimension ``A``) and runs as
batched matrix products, so ``A`` agents (RLB-MI: one per attacked class and seed) train in one
pass. Adam is elementwise and each agent's loss depends only on its own weights, so summing the
agents' losses trains each exactly as if it were alone. Shapes: states and actions ``A x B x D``,
rewards, Q-values and log-probabilities ``A x B``, temperatures ``A``.

Losses (RLB-MI's ``SAC.py``, on a replay batch of transitions ``(s, a, r, s', done)``):

    y         = r + gamma (1 - done) (min(Q1'(s', a'), Q2'(s', a')) - alpha log pi(a'|s')),  a' ~ pi(s')
    L_Qi      = 1/2 mean (Qi(s, a) - y)^2                                  (each critic)
    L_alpha   = -mean log_alpha (log pi(a~|s) + H_target),  H_target = -D,    a~ ~ pi(s)
    L_pi      = mean (alpha log pi(a~|s) - Q1(s, a~))                        (critic 1 only)

with ``Qi'`` the target critics, updated ``theta' <- tau theta + (1 - tau) theta'`` after each
step. The policy is a tanh-squashed Gaussian ``a = tanh(mu + sigma e)``, ``log sigma`` clipped
to [-20, 2]; ``log pi`` is the Gaussian log-density minus ``log(1 - a^2 + 1e-6)``, averaged over
the D action dimensions (the official code's mean, not the usual sum).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
SQUASH_EPS = 1e-6

Uniform = Callable[[tuple[int, ...], float], torch.Tensor]
"""``uniform(shape, bound)``: an ``A x shape`` tensor drawn from U(-bound, bound), one slice per agent."""


# ---------------------------------------------------------------- the pure pieces (unit-tested)

def squashed_gaussian(mu: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a = tanh(mu + sigma e)`` and ``log pi(a)``: mean over the last dimension of
    ``log N(mu + sigma e; mu, sigma) - log(1 - a^2 + 1e-6)``."""
    std = log_std.exp()
    action = torch.tanh(mu + std * noise)
    gaussian = -0.5 * noise ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    return action, (gaussian - torch.log(1 - action ** 2 + SQUASH_EPS)).mean(-1)


def critic_target(reward: torch.Tensor, done: torch.Tensor, q1_next: torch.Tensor, q2_next: torch.Tensor,
                  logp_next: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """``y = r + gamma (1 - done) (min(Q1', Q2') - alpha log pi(a'|s'))``; ``alpha`` has one value per agent."""
    soft_value = torch.min(q1_next, q2_next) - alpha.unsqueeze(-1) * logp_next
    return reward + gamma * (1 - done) * soft_value


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per agent ``1/2 mean_batch (Q - y)^2``, the target held fixed."""
    return 0.5 * ((q - target.detach()) ** 2).mean(-1)


def actor_loss(q: torch.Tensor, logp: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Per agent ``mean_batch (alpha log pi - Q)``, the temperature held fixed."""
    return (alpha.detach().unsqueeze(-1) * logp - q).mean(-1)


def temperature_loss(log_alpha: torch.Tensor, logp: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Per agent ``-mean_batch log_alpha (log pi + H_target)``, the log-probabilities held fixed."""
    return -(log_alpha.unsqueeze(-1) * (logp.detach() + target_entropy)).mean(-1)


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``theta' <- tau theta + (1 - tau) theta'`` for every parameter."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s, tau)


# ---------------------------------------------------------------- networks with one weight set per agent

class AgentLinear(nn.Module):
    """``x W_k + b_k`` for agent k; ``x`` is ``A x B x in``. Weights and biases are drawn from
    U(-bound, bound), PyTorch's default bound ``1 / sqrt(in)`` unless ``weight_bound`` is given."""

    def __init__(self, uniform: Uniform, n_in: int, n_out: int, weight_bound: float | None = None):
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter(uniform((n_in, n_out), bound if weight_bound is None else weight_bound))
        self.bias = nn.Parameter(uniform((1, n_out), bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class Actor(nn.Module):
    """Two ReLU layers, then the mean and the clipped log standard deviation of the Gaussian."""

    def __init__(self, uniform: Uniform, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = AgentLinear(uniform, dim, hidden), AgentLinear(uniform, hidden, hidden)
        self.mu, self.log_std = AgentLinear(uniform, hidden, dim), AgentLinear(uniform, hidden, dim)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc2(torch.relu(self.fc1(state))))
        return self.mu(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, state: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return squashed_gaussian(*self(state), noise)


class Critic(nn.Module):
    """``Q(s, a)``: two ReLU layers on ``[s, a]``. As the official code: hidden weights from
    U(+-1/sqrt(hidden)), the output weights from U(+-3e-3)."""

    def __init__(self, uniform: Uniform, dim: int, hidden: int):
        super().__init__()
        self.fc1 = AgentLinear(uniform, 2 * dim, hidden, weight_bound=1 / math.sqrt(hidden))
        self.fc2 = AgentLinear(uniform, hidden, hidden, weight_bound=1 / math.sqrt(hidden))
        self.fc3 = AgentLinear(uniform, hidden, 1, weight_bound=3e-3)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc2(torch.relu(self.fc1(torch.cat([state, action], -1)))))
        return self.fc3(h).squeeze(-1)


class ReplayBuffer:
    """A ring of the last ``capacity`` transitions of each agent, kept on one device."""

    def __init__(self, agents: int, capacity: int, dim: int, device: torch.device):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.states, self.actions, self.next_states = (torch.zeros(agents, capacity, dim, device=device)
                                                       for _ in range(3))
        self.rewards, self.dones = torch.zeros(agents, capacity, device=device), torch.zeros(agents, capacity, device=device)

    def add(self, state, action, reward, next_state, done: float) -> None:
        i = self.pos
        self.states[:, i], self.actions[:, i], self.next_states[:, i] = state, action, next_state
        self.rewards[:, i], self.dones[:, i] = reward, done
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The transitions at ``index`` (``A x B``, one row of slots per agent)."""
        rows = torch.arange(len(index), device=index.device).unsqueeze(1)
        return (self.states[rows, index], self.actions[rows, index], self.rewards[rows, index],
                self.next_states[rows, index], self.dones[rows, index])


class SACAgents:
    """``A`` independent SAC agents: actor, two critics with target copies, a learned temperature
    (``log alpha = 0`` at the start) and a replay buffer each.

    ``uniform(shape, bound)`` draws the initial weights and ``normal(shape)`` the policy noise, both
    ``A x shape`` (the caller decides which random stream each agent uses)."""

    def __init__(self, agents: int, dim: int, hidden: int, *, lr_actor: float, lr_critic: float, gamma: float,
                 tau: float, batch_size: int, buffer_size: int, uniform: Uniform,
                 normal: Callable[[tuple[int, ...]], torch.Tensor], device: torch.device):
        self.gamma, self.tau, self.batch_size, self.normal = gamma, tau, batch_size, normal
        self.target_entropy = -float(dim)
        self.actor = Actor(uniform, dim, hidden).to(device)
        self.critics = [Critic(uniform, dim, hidden).to(device) for _ in range(2)]
        self.targets = [Critic(uniform, dim, hidden).to(device).requires_grad_(False) for _ in range(2)]
        for target, critic in zip(self.targets, self.critics):
            target.load_state_dict(critic.state_dict())
        self.log_alpha = torch.zeros(agents, device=device, requires_grad=True)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr_actor)
        self.opt_critics = [torch.optim.Adam(c.parameters(), lr_critic) for c in self.critics]
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr_actor)
        self.buffer = ReplayBuffer(agents, buffer_size, dim, device)
        self.updates = 0

    @torch.no_grad()
    def act(self, state: torch.Tensor) -> torch.Tensor:
        """One sampled action per agent for its ``A x D`` state."""
        return self.actor.sample(state.unsqueeze(1), self.normal((1, state.shape[-1])))[0].squeeze(1)

    def learn(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """One update of every network from the replay slots ``index`` (``A x B``); returns the
        per-agent losses."""
        s, a, r, s_next, done = self.buffer.batch(index)
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            a_next, logp_next = self.actor.sample(s_next, self.normal(tuple(s.shape[1:])))
            y = critic_target(r, done, self.targets[0](s_next, a_next), self.targets[1](s_next, a_next),
                              logp_next, alpha, self.gamma)
        losses = {}
        for i, (critic, opt) in enumerate(zip(self.critics, self.opt_critics)):
            losses[f"critic{i + 1}"] = loss = critic_loss(critic(s, a), y)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        a_new, logp = self.actor.sample(s, self.normal(tuple(s.shape[1:])))
        losses["alpha"] = loss = temperature_loss(self.log_alpha, logp, self.target_entropy)
        self.opt_alpha.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_alpha.step()
        self.critics[0].requires_grad_(False)
        losses["actor"] = loss = actor_loss(self.critics[0](s, a_new), logp, alpha)
        self.opt_actor.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_actor.step()
        self.critics[0].requires_grad_(True)
        for target, critic in zip(self.targets, self.critics):
            soft_update(target, critic, self.tau)
        self.updates += 1
        return {k: v.detach() for k, v in losses.items()}
