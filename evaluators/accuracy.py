"""Attack accuracy (docs/protocol-card.md, metrics): the evaluation model's verdict on the reconstructions.

top-k accuracy = fraction of reconstructions x^ of target class c with c among the k largest
logits of the evaluation model E(x^). As in PLG-MI, the accuracy is computed per seed and the mean
and the standard deviation (population, ``np.std``) over seeds are reported.

Both are also broken down by attacked class (``EvalContext.per_class``, the record's ``per_class``):
a mean that hides one class the judge always grants, or one the attack never recovers, shows there
(a complaint about the existing tools, PLG-MI-Attack issue #1).
"""

from __future__ import annotations

import torch

from mibench.evaluator import EvalContext, Evaluator, Metric


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """1.0 where ``labels`` is among the ``k`` largest logits (k is capped at the class count)."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == labels[:, None]).any(1).float()


def per_seed_mean_std(values: torch.Tensor, seed_index: torch.Tensor) -> tuple[float, float]:
    """Mean over seeds of the per-seed mean of ``values``, and the population std over seeds."""
    seeds = seed_index.unique()
    per_seed = torch.stack([values[seed_index == s].mean() for s in seeds]).double()
    return per_seed.mean().item(), per_seed.std(unbiased=False).item()


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> dict[str, float]:
    """Top-``k`` accuracy of each attacked class's reconstructions (every seed's), by class label."""
    hits = topk_hits(logits, labels, k)
    return {str(c): hits[labels == c].mean().item() for c in labels.unique().tolist()}


def attack_accuracy(logits: torch.Tensor, labels: torch.Tensor, seed_index: torch.Tensor) -> dict[str, float]:
    out = {}
    for k in (1, 5):
        mean, std = per_seed_mean_std(topk_hits(logits, labels, k), seed_index)
        out[f"attack_acc_top{k}"], out[f"attack_acc_top{k}_std"] = mean, std
    return out


class AttackAccuracy(Evaluator):
    name = "accuracy"
    version = "1"
    paper = "Zhang et al., GMI (CVPR 2020), attack accuracy; per-seed mean/std as PLG-MI (AAAI 2023)"
    code = "https://github.com/LetheSec/PLG-MI-Attack"
    metrics = (
        Metric("attack_acc_top1", True, "fraction of reconstructions the judge reads as their class (mean over seeds)",
               fraction=True),
        Metric("attack_acc_top1_std", False, "std over seeds of the per-seed top-1 accuracy", diagnostic=True),
        Metric("attack_acc_top5", True, "fraction with their class among the judge's five most probable", fraction=True),
        Metric("attack_acc_top5_std", False, "std over seeds of the per-seed top-5 accuracy", diagnostic=True),
    )

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        for k in (1, 5):
            ctx.per_class[f"attack_acc_top{k}"] = per_class_accuracy(ctx.logits, ctx.recon.labels, k)
        return attack_accuracy(ctx.logits, ctx.recon.labels, ctx.recon.seed_index)

    def verdicts(self, ctx: EvalContext) -> torch.Tensor:
        """The judge reads the reconstruction as its class (top-1)."""
        return ctx.logits.argmax(1) == ctx.recon.labels
