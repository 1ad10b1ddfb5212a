"""Label smoothing with a signed factor; negative label smoothing (NegLS) is the defense.

Paper: Struppek, Hintersdorf, Kersting, "Be Careful What You Smooth For: Label Smoothing Can Be a
Privacy Shield but Also a Catalyst for Model Inversion Attacks", ICLR 2024; code
github.com/LukasStruppek/Plug-and-Play-Attacks (the paper's experiments build on it).
docs/protocol-card.md, ``defenses.ls``.

The target is trained with the cross-entropy against smoothed targets

    t = (1 - alpha) * onehot(y) + alpha / C,      L = -sum_c t_c * log softmax(logits)_c

(mean over the batch). For alpha < 0 the targets have negative entries and the loss pushes the
non-target probabilities towards zero harder than plain CE; the paper finds that this degrades the
guidance inversion attacks draw from the target (at a cost in natural accuracy).

Schedule (alpha < 0 only): alpha_t = 0 for the first ``ramp_start`` (50 %) of training, a linear
ramp to alpha until ``ramp_end`` (75 %), then alpha. Training progress is measured in optimiser
steps (fraction = step / total), not epochs, so the ramp exists in the suites' 1-epoch CPU runs.
A positive alpha is applied from the first step, as the paper does for standard LS; it is the
attack-*helping* control, so the ladder lists it as weaker than no defense.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mibench.components import param
from mibench.claims import Defends, HelpsAttack, Where
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.errors import ConfigError
from mibench.hotloops import HotLoop
from mibench.models import Classifier


def smoothing_schedule(alpha: float, fraction: float, ramp_start: float, ramp_end: float) -> float:
    """The smoothing factor at ``fraction`` of training: constant for alpha >= 0, else 0 before
    ``ramp_start``, linear to alpha until ``ramp_end``, alpha after."""
    if alpha >= 0 or fraction >= ramp_end:
        return alpha
    if fraction < ramp_start:
        return 0.0
    return alpha * (fraction - ramp_start) / (ramp_end - ramp_start)


def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Mean over the batch of ``-sum_c t_c log p_c`` with ``t = (1 - alpha) onehot(y) + alpha / C``."""
    num_classes = logits.shape[1]
    targets = (1 - alpha) * F.one_hot(y, num_classes).to(logits.dtype) + alpha / num_classes
    return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()


class LabelSmoothing(Defense):
    name = "ls"
    version = "1"
    paper = ("Struppek et al., Be Careful What You Smooth For: Label Smoothing Can Be a Privacy Shield "
             "but Also a Catalyst for Model Inversion Attacks, ICLR 2024")
    code = "https://github.com/LukasStruppek/Plug-and-Play-Attacks"
    claims = (Defends("negative label smoothing (alpha < 0) lowers the attacks' accuracy", where=Where("alpha", "<", 0)),
              HelpsAttack("positive label smoothing (alpha > 0) raises the attacks' accuracy",
                          where=Where("alpha", ">", 0)))
    # weakest first: positive alpha helps the attack (weaker than no defense), negative alpha defends
    ladder = Ladder.of("alpha", (0.1, 0.05, -0.05, -0.1, -0.2))

    @dataclass(frozen=True)
    class Params:
        alpha: float = param(-0.05, min=-1.0, max=1.0, help="smoothing factor; < 0 is NegLS (the defense)")
        ramp_start: float = param(0.5, min=0.0, max=1.0, help="fraction of training before NegLS starts")
        ramp_end: float = param(0.75, min=0.0, max=1.0, help="fraction of training at which NegLS reaches alpha")

    def __init__(self, params: dict | None = None):
        super().__init__(params)
        p = self.params
        if p.ramp_start > p.ramp_end:
            raise ConfigError(f"LabelSmoothing (ls): ramp_start={p.ramp_start} must be <= ramp_end={p.ramp_end}")
        self.current_alpha = smoothing_schedule(p.alpha, 0.0, p.ramp_start, p.ramp_end)

    def on_step(self, step: int, total: int) -> None:
        """Set the smoothing factor for the coming step (``fit``'s ``on_step`` hook)."""
        p = self.params
        self.current_alpha = smoothing_schedule(p.alpha, step / total, p.ramp_start, p.ramp_end)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return smoothed_cross_entropy(model(x), y, self.current_alpha)

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``train step``: one step on the smoothed cross-entropy at the schedule's end (alpha)."""
        self.on_step(1, 1)
        return {"train step": self.train_step(ctx)}

    def train(self, ctx: DefenseContext) -> Classifier:
        model = self.build(ctx)
        ctx.fit(model, loss_fn=self.loss, on_step=self.on_step,
                description=f"target [ls: alpha={self.params.alpha}]")
        return model
