"""LOMMA's augmented models (Nguyen et al., CVPR 2023, section 4.2), a target-scoped prior.

``lomma-surrogates`` distils the target into a few classifiers of other architectures on the
public images, so it depends on the target: keyed by the target and trained once per target
(``scope = "target"``). As the official ``train_augmented_model.py`` / ``engine.train_augmodel``:

- teacher: the target's softmax at temperature T (T = 1), read through the requesting attack's
  view (the images are the public ones, without labels; each counts as a query once);
- student loss: ``sum_i KL(t_i || softmax(s_i / T)) / (n T^2)`` (``KLDivLoss(reduction="sum")``
  over the batch, divided by the batch size and T^2);
- SGD lr 0.01, momentum 0.9, weight decay 1e-4, batch 64, 20 epochs, no augmentation (the
  official StepLR halves the rate every 20 epochs, so it never acts within the 20; the released
  students' folders name lr 0.02, and the file the attack configs load, ``*_kd_0_20.pt``, is
  saved after the 19th epoch: mibench follows the training configs);
- three students, EfficientNet-B0, B1 and B2 (targets VGG16, IR152, FaceNet64): a family other
  than the target's, growing in size.

Deviations: the students are mibench backbones (``mibench.models``) with a linear head, each
declared as ``(name, keyword arguments)``; the default, three pre-activation ResNets with 1, 2 and
3 blocks per stage, stands for EfficientNet-B0/B1/B2 (a suite may override it, and its profile
notes say why). As in the paper, no student may be of the target's family: a surrogate whose
backbone is defined in the same module of ``mibench.models`` as the target's (``family``: MCNN,
the pre-activation ResNet, the IR-SE nets, VGG16-BN) is refused by name (:func:`check_surrogates`)
when the context names the target's architecture (``target_arch``). The teacher's probabilities are computed once
before training instead of per batch (the target is frozen and the official loader does not
augment, so they are the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mibench.attacks.kedmi.prior import soft_labels
from mibench.components import param
from mibench.data import ImageSet
from mibench.errors import ConfigError
from mibench.hotloops import HotLoop, fit_step
from mibench.models import Classifier
from mibench.prior import Prior, PriorContext
from mibench.registries import MODELS
from mibench.tensors import batched, cpu_state
from mibench.training import LossFn, TrainRecipe, fit


def tempered(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(log p / T)``: the softmax at temperature T of any logits whose softmax is p."""
    return probs if temperature == 1 else F.softmax(probs.log() / temperature, 1)


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sum_i KL(t_i || softmax(s_i / T)) / (n T^2)``, LOMMA's student loss."""
    log_student = F.log_softmax(student_logits / temperature, 1)
    return F.kl_div(log_student, teacher_probs, reduction="sum") / (len(student_logits) * temperature ** 2)


def family(arch: str) -> str:
    """A backbone's family: the module that defines its class (``ir152_64`` and ``facenet64`` are both
    ``mibench.models.irse``)."""
    return MODELS.get(arch).__module__


def check_surrogates(surrogates, target_arch: str | None) -> None:
    """Refuse a surrogate of the target's family: LOMMA augments the target with models of other
    architectures (EfficientNet-B0/B1/B2 for VGG16, IR152 and FaceNet64 targets)."""
    if target_arch is None:
        return
    same = [arch for arch, _ in surrogates if family(arch) == family(target_arch)]
    if same:
        raise ConfigError(f"lomma-surrogates: surrogate {same[0]!r} is of the target's own family ({target_arch!r}, "
                          f"{family(target_arch)}); LOMMA distils the target into other architectures: set "
                          f"priors.lomma-surrogates.surrogates to backbones of another family")


class LOMMASurrogates(Prior):
    name = "lomma-surrogates"
    version = "2"  # 2: a surrogate of the target's family is refused (the mnist profile's were MCNNs, its target's)
    scope = "target"
    paper = "Nguyen et al., Re-thinking Model Inversion Attacks Against Deep Neural Networks, CVPR 2023"
    code = "https://github.com/sutd-visual-computing-group/Re-thinking_MI"

    @dataclass(frozen=True)
    class Params:
        surrogates: tuple = param(
            (("resnet_small", {"blocks": 1}), ("resnet_small", {"blocks": 2}), ("resnet_small", {"blocks": 3})),
            help="(backbone name, keyword arguments) per surrogate, of a family other than the target's; "
                 "in_channels comes from the suite")
        epochs: float = param(20.0, budget="epochs")
        batch_size: int = param(64, min=1)
        lr: float = param(0.01, min=0.0)
        momentum: float = param(0.9, min=0.0, max=1.0)
        weight_decay: float = param(1e-4, min=0.0)
        temperature: float = param(1.0, min=1e-3)

    def networks(self, ctx: PriorContext) -> list[Classifier]:
        check_surrogates(self.params.surrogates, ctx.target_arch)
        out = []
        for arch, kwargs in self.params.surrogates:
            backbone = MODELS.get(arch)(**{**kwargs, "in_channels": ctx.image_shape[0]})
            out.append(Classifier(backbone, nn.Linear(backbone.feature_dim, ctx.num_classes)).to(ctx.device))
        return out

    def distillation(self, ctx: PriorContext) -> tuple[ImageSet, TrainRecipe, LossFn]:
        """The students' data (the public images with the target's tempered probabilities), recipe and loss."""
        p = self.params
        teacher = batched(lambda x: soft_labels(ctx.target, x), ctx.public.images, ctx.device)
        data = ImageSet(ctx.public.images, tempered(teacher, p.temperature))
        recipe = TrainRecipe(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                             weight_decay=p.weight_decay)
        return data, recipe, lambda m, x, t: distillation_loss(m(x), t, p.temperature)

    def train(self, ctx: PriorContext) -> dict[str, Any]:
        p = self.params
        torch.manual_seed(ctx.seed)
        students = self.networks(ctx)
        data, recipe, loss = self.distillation(ctx)
        for k, (student, (arch, _)) in enumerate(zip(students, p.surrogates)):
            fit(student, data, recipe, loss_fn=loss, device=ctx.device, seed=ctx.seed + k,
                description=f"lomma-surrogates: distil the target into {arch} ({k + 1}/{len(students)})")
        return {"surrogates": [cpu_state(s) for s in students]}

    def hot_loops(self, ctx: PriorContext) -> dict[str, HotLoop]:
        """``distillation step k/n (arch)``: one SGD step of student k on the distillation loss."""
        data, recipe, loss = self.distillation(ctx)
        students = self.networks(ctx)
        return {f"distillation step {k + 1}/{len(students)} ({arch})": fit_step(student, data, recipe, loss, ctx.device)
                for k, (student, (arch, _)) in enumerate(zip(students, self.params.surrogates))}

    def load(self, state: dict[str, Any], ctx: PriorContext) -> list[Classifier]:
        students = self.networks(ctx)
        for student, weights in zip(students, state["surrogates"]):
            student.load_state_dict(weights)
        return [s.eval().requires_grad_(False) for s in students]
