"""Attack accuracy by the mnist suite's previous judge, v2 (docs/protocol-card.md, metrics): numbers
comparable with the papers' ten-class MNIST judges.

Judge v3 (the suite's judge, :data:`mibench.suites.mnist.JUDGE`) has an eleventh class, "no digit", so
an image that shows no digit earns nothing. Judge v2 (:data:`mibench.suites.mnist.JUDGE_V2`, shipped as
``mibench/weights/mnist-judge-v2.pt``) answers the ten digits only, like the papers' judges (BiDO's
SCNN): it reads a blank image as a 1 and most dimmed digits as another digit, so its numbers include
what an attacker gets for drawing nothing. This evaluator loads that file itself (an asset pinned by
its SHA-256, looked for as every asset) and reports top-1 / top-5 as :mod:`evaluators.accuracy` does
(per-seed mean, population std over seeds, per attacked class); private class c is v2's class c.
Without the file the metrics are NaN and the record's ``evaluator_notes`` say where to put it; a file
with the wrong checksum is an error.
"""

from __future__ import annotations

import torch
from torch import nn

from mibench.evaluator import EvalContext, Evaluator, Metric
from mibench.models import Classifier
from mibench.registries import MODELS
from mibench.stages import load_checked
from mibench.suites.mnist import JUDGE_V2, JUDGE_V2_ARCH
from mibench.tensors import batched

from .accuracy import attack_accuracy, per_class_accuracy

SUFFIX = "_judge_v2"
CLASSES = 10


def judge_v2(path, device: torch.device) -> Classifier:
    """Judge v2 with the weights in ``path`` (a verified :data:`JUDGE_V2` file), in eval mode."""
    arch, params = JUDGE_V2_ARCH
    backbone = MODELS.get(arch)(**params)
    model = Classifier(backbone, nn.Linear(backbone.feature_dim, CLASSES))
    load_checked(model, torch.load(path, map_location="cpu", weights_only=True), JUDGE_V2.filename)
    return model.to(device).eval()


class AttackAccuracyV2(Evaluator):
    name = "accuracy-v2"
    version = "1"
    paper = "Zhang et al., GMI (CVPR 2020), attack accuracy, judged by mibench's ten-class mnist judge v2"
    code = "mibench: evaluators/accuracy_v2.py"
    metrics = (
        Metric(f"attack_acc_top1{SUFFIX}", True, "fraction of reconstructions judge v2 (ten digits, no 'no digit' "
                                                 "class) reads as their class (mean over seeds)", fraction=True),
        Metric(f"attack_acc_top1{SUFFIX}_std", False, "std over seeds of the per-seed top-1 accuracy by judge v2",
               diagnostic=True),
        Metric(f"attack_acc_top5{SUFFIX}", True, "fraction with their class among judge v2's five most probable "
                                                 "of ten", fraction=True),
        Metric(f"attack_acc_top5{SUFFIX}_std", False, "std over seeds of the per-seed top-5 accuracy by judge v2",
               diagnostic=True),
    )

    def logits(self, ctx: EvalContext) -> torch.Tensor | None:
        """Judge v2's logits on the reconstructions; None (and the note) without its file."""
        found = self.find_asset(ctx, JUDGE_V2)
        if found is None:
            return None
        model = judge_v2(found[0], ctx.device)
        with torch.no_grad():
            return batched(model, ctx.recon.images, ctx.device)

    def verdicts(self, ctx: EvalContext) -> torch.Tensor | None:
        """Judge v2 reads the reconstruction as its class (top-1); None without its file."""
        logits = self.logits(ctx)
        return None if logits is None else logits.argmax(1) == ctx.recon.labels

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        logits = self.logits(ctx)
        if logits is None:
            return {m.name: float("nan") for m in self.metrics}
        labels = ctx.recon.labels
        for k in (1, 5):
            ctx.per_class[f"attack_acc_top{k}{SUFFIX}"] = per_class_accuracy(logits, labels, k)
        out = attack_accuracy(logits, labels, ctx.recon.seed_index)  # attack_acc_top1(_std) -> ..._top1_judge_v2(_std)
        return {name.replace(f"top{k}", f"top{k}{SUFFIX}"): value for name, value in out.items() for k in (1, 5)
                if f"top{k}" in name}
