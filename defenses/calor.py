"""CALoR: Confidence Adaptation and Low-Rank compression (Yu, Qiu, Fang, Chen et al.).

Paper: arXiv 2410.05814 (later "Rank Matters ... LoFt", KDD 2026); code github.com/Chrisqcwx/LoFt.
Two parts (docs/protocol-card.md, ``defenses.calor``):

1. Low-rank head (LoR): the final linear layer (d -> C) is replaced by
   ``BatchNorm1d(d) -> Linear(d, r) -> tanh -> Linear(r, C)`` and trained from scratch with the
   backbone on plain cross-entropy (the suite's target recipe). tanh saturates, so gradients
   reaching the attacker through the head vanish.
2. Confidence adaptation (CA): the LoR model is fine-tuned with

       L_CA = a * p_y^b * log(p_y),      a = 0.25, b = 8,

   where p_y is the softmax probability of the true class. Its minimum over p_y is at
   p_y = exp(-1/b) (0.88 for b = 8): the model is trained not to be fully confident on private
   data, so an attack that drives p_y to 1 searches the wrong region. Recipe (official
   ``ca_ft.py``, loss ``InverseFocalLoss(gamma=8, alpha=0.25)``): 5 epochs, SGD lr 2e-5,
   momentum 0.9, no weight decay, lr x0.1 at 60 % and 80 % of the epochs.

The LoR stage uses the suite's target recipe, shared by all defenses so that their targets are
comparable (the official scripts train the neck with Adam 1e-3 for 100 epochs from a backbone
pre-trained on MS-Celeb-1M, LoFt's ``pretrain.py`` and ``lrc.py``).

The seed summary's logit clipping, gradient perturbation and leakage suppression have no public
implementation and are not part of this defense. ``rank`` is per suite (the paper uses r = 30
for d = 512); ``lor`` and ``ca`` switch the two parts off for ablations. Strength ladder: r in
{16, 8, 4, 3, 2} with CA, and r = 16 without CA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mibench.claims import Defends, Where
from mibench.components import param
from mibench.data import ImageSet
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.hotloops import HotLoop
from mibench.models import Classifier
from mibench.tensors import batched
from mibench.training import TrainRecipe


class LowRankHead(nn.Module):
    """BatchNorm1d(d) -> Linear(d, r) -> tanh -> Linear(r, C)."""

    def __init__(self, feature_dim: int, rank: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(feature_dim)
        self.down = nn.Linear(feature_dim, rank)
        self.up = nn.Linear(rank, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(torch.tanh(self.down(self.norm(h))))


def confidence_adaptation_loss(logits: torch.Tensor, y: torch.Tensor, a: float = 0.25, b: float = 8.0) -> torch.Tensor:
    """Mean over the batch of ``a * p_y**b * log(p_y)``, computed from log-probabilities."""
    log_py = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return (a * torch.exp(b * log_py) * log_py).mean()


def mean_true_class_probability(model: nn.Module, data: ImageSet, device: torch.device) -> float:
    """Mean over ``data`` of p_y, the softmax probability ``model`` (in eval mode) gives the true class."""
    model.eval()
    log_p = F.log_softmax(batched(model, data.images, device), dim=1)  # on the CPU
    return log_p.gather(1, data.labels[:, None]).exp().mean().item()


class CALoR(Defense):
    name = "calor"
    version = "1"
    paper = "Yu et al., CALoR: Towards Comprehensive Model Inversion Defense, arXiv 2410.05814"
    code = "https://github.com/Chrisqcwx/LoFt"
    claims = (Defends("confidence adaptation and a low-rank head lower the attacks' accuracy"),
              Defends("attack accuracy down by over 40 % (relative) at under 1.5 points of natural accuracy "
                      "(shown against PLG-MI and IF-GMI)", where=Where("ca", "==", 1), against=("plg",),
                      relative_drop=0.4, max_accuracy_cost=0.015))

    ladder = Ladder("rank,ca", ({"rank": 16, "ca": False}, {"rank": 16}, {"rank": 8}, {"rank": 4}, {"rank": 3},
                                {"rank": 2}))
    """Weakest first: LoR alone at r = 16, then LoR + CA with r shrinking towards the bottleneck
    (a bottleneck only when r < the number of classes)."""

    @dataclass(frozen=True)
    class Params:
        rank: int = param(30, min=1, help="r of the low-rank head (a bottleneck only when r < classes)")
        lor: bool = True
        ca: bool = True
        ca_a: float = param(0.25, min=0.0)
        ca_b: float = param(8.0, min=0.0)
        ca_epochs: float = param(5.0, budget="epochs")
        ca_lr: float = param(2e-5, min=0.0)
        ca_momentum: float = param(0.9, min=0.0, max=1.0)
        ca_weight_decay: float = param(0.0, min=0.0)
        ca_milestones: tuple[float, ...] = (0.6, 0.8)

    def head(self, feature_dim: int, num_classes: int) -> nn.Module:
        if not self.params.lor:
            return super().head(feature_dim, num_classes)
        return LowRankHead(feature_dim, self.params.rank, num_classes)

    def ca_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return confidence_adaptation_loss(model(x), y, self.params.ca_a, self.params.ca_b)

    def ca_recipe(self, ctx: DefenseContext) -> TrainRecipe:
        """The CA fine-tune's recipe: the target recipe's batches with CA's own optimiser and schedule."""
        p = self.params
        return ctx.recipe.replace(epochs=p.ca_epochs, lr=p.ca_lr, momentum=p.ca_momentum,
                                  weight_decay=p.ca_weight_decay, lr_milestones=p.ca_milestones, lr_gamma=0.1,
                                  schedule="step", nesterov=False)

    def train(self, ctx: DefenseContext) -> Classifier:
        """Stage 1 (the LoR model, plain CE) is cached on its own: a CA ablation reuses it."""
        p = self.params
        lor_config = {"lor": p.lor, "rank": p.rank if p.lor else None}
        model = ctx.stage(self.build(ctx), "calor-lor", lor_config,
                          lambda m: ctx.fit(m, loss_fn=self.loss, description=f"target [calor: LoR r={p.rank}]"))
        if p.ca:  # what CA is for: mean p_y on private_train, before and after (stored in the record)
            ctx.notes["ca_mean_py_before"] = mean_true_class_probability(model, ctx.data.private_train, ctx.device)
            ctx.fit(model, self.ca_recipe(ctx), loss_fn=self.ca_loss, description="target [calor: CA fine-tune]")
            ctx.notes["ca_mean_py_after"] = mean_true_class_probability(model, ctx.data.private_train, ctx.device)
        return model

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``LoR step``: one cross-entropy step through the low-rank head (stage 1); ``CA fine-tune
        step``: one step on L_CA with CA's optimiser (stage 2)."""
        model = self.build(ctx)
        loops = {"LoR step": self.train_step(ctx, model)} if self.params.lor else {}
        if self.params.ca:
            loops["CA fine-tune step"] = self.train_step(ctx, model, self.ca_loss, self.ca_recipe(ctx))
        return loops
