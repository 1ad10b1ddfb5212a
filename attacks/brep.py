"""BREP-MI: Boundary-Repelling Model Inversion (Kahla et al., CVPR 2022). Label-only.

Code: github.com/m-kahla/Label-Only-Model-Inversion-Attacks-via-Boundary-Repulsion. The attack
sees only the target's predicted label and walks in the latent space of the public prior
``gmi-wgan`` (the generator alone), away from the decision boundary of the attacked class c:

1. Start: random latents z ~ N(0, I) clipped to [-1.5, 1.5], drawn in batches of 256, until the
   target labels G(z) as c (one start per reconstruction). The official code searches without
   end; mibench stops after ``start_batches`` batches and leaves a reconstruction without a start
   as the random prior sample it drew (it does not step; the judge scores it like any other, and
   the record's ``attack_notes`` count them).
2. Step (radius r, initially 2): sample ``points`` = 32 directions u_i uniformly on the sphere of
   radius r; score s_i = +1 if the target labels G(z + u_i) as c, else -1. When
   ``sum_i s_i > 0.75 * points`` the sphere is (nearly) inside the class: r <- 1.3 r. With
   repulsion only (the paper's setting), the direction is ``mean_i((s_i - 1) / 2 * u_i) / r``
   (the mean of the outside points, negated) and ``z' = clip(z + min(r_old / 3, 3) * direction,
   -1.5, 1.5)``; the step is taken only if G(z') is still labelled c.
3. A latent stops after ``patience`` = 1,000 steps without a radius increase; its reconstruction
   is the point at its last radius increase (the start if the radius never grew). As in the
   official code, a step that grows the radius or leaves the class does not count.
4. Not in the paper: a latent also stops once its radius exceeds ``max_radius`` (default: the
   diameter of the latent box, ``2 * clip * sqrt(dim)``, 30 for the 100-dimensional prior). A sphere
   that large lies wholly outside the box the latents live in, so its labels say nothing more about
   the latent's neighbourhood. Without this stop, a latent whose every sphere stays inside the class
   (a target that labels the prior's far regions c) grows its radius for ever and, its step being
   zero, never moves: the official code loops without end there, and mibench spent most of its
   time on such latents.

All latents of all classes and seeds step in one batch, each with its own radius. ``max_steps``
(not in the paper) bounds the run time; ``max_queries`` declares a query budget (0: none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.chunks import map_rows
from mibench.components import param
from mibench.hotloops import HotLoop
from mibench.progress import progress

PRIOR = "gmi-wgan"


def sphere_directions(n: int, points: int, dim: int, radius: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``n x points x dim`` directions, uniform on the sphere of radius ``radius[i]`` for latent i."""
    u = torch.randn(n, points, dim, generator=generator)
    return u / u.norm(dim=2, keepdim=True) * radius.view(-1, 1, 1)


def repulsion(scores: torch.Tensor, directions: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """``mean_i((s_i - 1) / 2 * u_i) / r``: minus the mean of the directions that left the class."""
    return (((scores - 1) / 2).unsqueeze(2) * directions).mean(1) / radius.view(-1, 1)


class BREPMI(Attack):
    name = "brep"
    version = "2"
    paper = "Kahla et al., Label-Only Model Inversion Attacks via Boundary Repulsion, CVPR 2022"
    code = "https://github.com/m-kahla/Label-Only-Model-Inversion-Attacks-via-Boundary-Repulsion"
    access = Access.LABEL_ONLY
    priors = (PRIOR,)

    @dataclass(frozen=True)
    class Params:
        points: int = param(32, min=1, help="points sampled on the sphere per step")
        radius: float = param(2.0, min=0.0, help="initial sphere radius")
        expansion: float = param(1.3, min=1.0)
        expand_above: float = param(0.75, min=-1.0, max=1.0, help="mean +-1 score above which the radius grows")
        clip: float = param(1.5, min=0.0)
        max_radius: float = param(0.0, min=0.0, help="a latent stops once its radius exceeds this; 0: the latent "
                                  "box's diameter 2 * clip * sqrt(dim) (not in the paper)")
        patience: int = param(1000, budget="steps", min=1, help="steps without a radius increase before a latent stops")
        max_steps: int = param(10000, budget="steps", min=1, help="bound on the steps of the whole batch (not in the paper)")
        start_batch: int = param(256, min=1)
        start_batches: int = param(10000, min=1, help="batches drawn at most to find the starting latents")
        max_queries: int = param(0, min=0, help="query budget; 0: unbounded")

    def query_budget(self) -> int | None:
        return self.params.max_queries or None

    @staticmethod
    @torch.no_grad()
    def labels_of(ctx: AttackContext, G, z: torch.Tensor) -> torch.Tensor:
        """The target's labels of ``G(z)`` on the CPU, generated and queried in chunks
        (:func:`~mibench.chunks.map_rows`: the same labels, twice as fast on a CPU)."""
        return map_rows(lambda part: ctx.target(G(part.to(ctx.device))), z, ctx.image_shape, ctx.device).cpu()

    def starts(self, ctx: AttackContext, G, labels: torch.Tensor, gen: torch.Generator,
               dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One latent per reconstruction, labelled with its class by the target where one was found
        (the mask); the others are random prior latents."""
        p = self.params
        need = {int(c): int((labels == c).sum()) for c in labels.unique()}
        found: dict[int, list[torch.Tensor]] = {c: [] for c in need}
        for _ in range(p.start_batches):
            z = torch.randn(p.start_batch, dim, generator=gen).clamp(-p.clip, p.clip)
            pred = self.labels_of(ctx, G, z)
            for c in need:
                found[c] += list(z[pred == c][: need[c] - len(found[c])])
            if all(len(found[c]) == need[c] for c in need):
                break
        z = torch.randn(len(labels), dim, generator=gen).clamp(-p.clip, p.clip)
        ok = torch.zeros(len(labels), dtype=torch.bool)
        for c, latents in found.items():
            slots = (labels == c).nonzero().squeeze(1)[:len(latents)]
            if len(slots):
                z[slots], ok[slots] = torch.stack(latents), True
        return z, ok

    def run(self, ctx: AttackContext) -> Reconstructions:
        p, dev = self.params, ctx.device
        G = ctx.prior(PRIOR).generator
        dim = ctx.prior(PRIOR).dim_z
        labels, seeds = ctx.budget.labels_and_seeds()
        gen = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 7)
        z, started = self.starts(ctx, G, labels, gen, dim)
        walk = self.walk(z, torch.where(started, 0, p.patience), labels, gen)
        steps = 0
        with progress("brep: boundary repulsion", p.max_steps) as advance, torch.no_grad():
            for steps in range(p.max_steps):
                active = (walk.since < p.patience).nonzero().squeeze(1)
                if len(active) == 0:
                    break
                self.repel(ctx, G, walk, active)
                advance(active=len(active), radius=float(walk.radius.mean()))
            notes = {"without_start": int((~started).sum()), "steps": steps + 1,
                     "stopped_by_max_steps": int((walk.since < p.patience).sum()),
                     "stopped_by_max_radius": int((walk.radius > walk.max_radius).sum()),
                     "final_radius_mean": float(walk.radius.mean())}
            return Reconstructions(G(walk.best.to(dev)), labels, seeds, notes)

    def walk(self, z: torch.Tensor, since: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> "Walk":
        """The walk from the latents ``z`` (each at the initial radius, ``since`` steps without growth)."""
        p = self.params
        return Walk(z, torch.full((len(z),), p.radius), since, z.clone(), labels, gen,
                    p.max_radius or 2 * p.clip * z.shape[1] ** 0.5)

    @torch.no_grad()
    def repel(self, ctx: AttackContext, G, walk: "Walk", active: torch.Tensor) -> None:
        """One step (2-4) of the latents ``active`` (indices into ``walk``): label the ``points`` sphere
        points of each, grow the radius or step away from the points outside the class, and label the
        step's point: ``(points + 1) x len(active)`` queries."""
        p, dim = self.params, walk.z.shape[1]
        za, ra, ya = walk.z[active], walk.radius[active], walk.labels[active]
        step = (ra / 3).clamp(max=3)
        dirs = sphere_directions(len(active), p.points, dim, ra, walk.gen)
        pred = self.labels_of(ctx, G, (za.unsqueeze(1) + dirs).view(-1, dim)).view(len(active), p.points)
        scores = torch.where(pred == ya.unsqueeze(1), 1.0, -1.0)
        expand = scores.mean(1) > p.expand_above
        ra = torch.where(expand, ra * p.expansion, ra)
        z_new = (za + step.unsqueeze(1) * repulsion(scores, dirs, ra)).clamp(-p.clip, p.clip)
        moved = self.labels_of(ctx, G, z_new) == ya
        za = torch.where(moved.unsqueeze(1), z_new, za)
        walk.z[active], walk.radius[active] = za, ra
        grew = expand & moved
        walk.best[active[grew]] = za[grew]
        walk.since[active] = torch.where(expand, 0, walk.since[active] + moved.long())
        walk.since[active[ra > walk.max_radius]] = p.patience

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """``query step``: one :meth:`repel` of every latent of the budget, from random starts."""
        prior, labels = ctx.prior(PRIOR), ctx.budget.labels_and_seeds()[0]
        gen = torch.Generator().manual_seed(ctx.seed)
        z = torch.randn(len(labels), prior.dim_z, generator=gen).clamp(-self.params.clip, self.params.clip)
        walk, every = self.walk(z, torch.zeros(len(z), dtype=torch.long), labels, gen), torch.arange(len(z))
        return {"query step": HotLoop(lambda: self.repel(ctx, prior.generator, walk, every),
                                      len(z) * (self.params.points + 1))}


@dataclass
class Walk:
    """The state of the latents' walk: position, sphere radius, steps since the last radius increase
    (``patience`` or more: stopped), the point at the last increase, the attacked class, the random
    stream of the sphere points and the radius beyond which a latent stops."""

    z: torch.Tensor
    radius: torch.Tensor
    since: torch.Tensor
    best: torch.Tensor
    labels: torch.Tensor
    gen: torch.Generator
    max_radius: float
