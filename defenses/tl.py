"""TL: transfer learning as a model-inversion defense (Ho et al., CVPR 2024).

Paper: "Model Inversion Robustness: Can Transfer Learning Help?", arXiv 2405.05588;
code github.com/hosytuyen/TL-DMI (also in MIBench, github.com/ffhibnese/Model-Inversion-Attack-ToolBox).
Early layers carry the private information an inversion exploits; TL keeps them away from the
private data (docs/protocol-card.md, ``defenses.tl``):

1. Pre-training (stage ``tl-pretrain``): the suite's backbone with a linear head over the public
   classes is trained with cross-entropy on the public role *with its labels* (remapped to
   0..K-1), with the suite's target recipe. It does not depend on ``freeze``, so it is cached once
   and reused by every freezing fraction.
2. Fine-tuning: the pre-trained backbone gets a fresh head for the private classes; the first
   ``freeze`` fraction of the backbone's ``layers()`` is frozen (``Backbone.freeze_first``: no
   gradient, and frozen BatchNorm layers kept in eval mode so their running statistics stay the
   public ones), and the rest is trained on private_train with the suite's target recipe.

The official VGG16 (ImageNet-1K pre-trained, CelebA fine-tuned) freezes its first 27 feature
modules (``freeze_layers = 26``); MIBench and CALoR freeze the first 40/50/70 % of the layers. The
official code only sets ``requires_grad = False``, so its frozen BatchNorm statistics still adapt to
private data; mibench fixes them, since the frozen layers are meant to hold no private information.

On MCNN, ``layers()`` is conv1, bn1, conv2, bn2, conv3, bn3 (``net.0, 1, 4, 5, 8, 9``), and
``round(freeze * 6)`` of them are frozen (Python rounds halves to even): 0.3 -> conv1, bn1;
0.5 -> + conv2; 0.7 -> + bn2; 0.9 -> + conv3; 1.0 -> the whole backbone (only the head is trained).
The fine-tuning stage's progress line names the frozen layers.

Both stages use the suite's target recipe: pre-training costs one more target training on the
public set (on MNIST 34,265 public vs 30,596 private images), and no separate pre-training budget
is declared, so a profile's target recipe sizes both stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mibench.claims import Defends
from mibench.components import param
from mibench.data import UNLABELLED, ImageSet
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.errors import ConfigError
from mibench.hotloops import HotLoop
from mibench.models import Backbone, Classifier


def public_with_indexed_labels(public: ImageSet) -> ImageSet:
    """``public`` with its labels remapped to 0..K-1 in sorted order (MNIST's 5-9 become 0-4); a
    public set without labels (FFHQ) is a :class:`ConfigError`: pre-training needs classes."""
    if bool((public.labels == UNLABELLED).any()):
        raise ConfigError("TL (tl) pre-trains on the public data's labels, and this suite's public set has none "
                          "(FFHQ); use a labelled public set, e.g. --set suite.public=celeba or facescrub")
    _, labels = torch.unique(public.labels, return_inverse=True)
    return ImageSet(public.images, labels)


def freeze(backbone: Backbone, fraction: float) -> tuple[list[str], list[nn.Module]]:
    """Freeze the first ``fraction`` of ``backbone.layers()``; return the frozen layers' names and
    the frozen BatchNorm layers, which must stay in eval mode while the rest trains."""
    names = backbone.freeze_first(fraction)
    modules = dict(backbone.named_modules())
    norms = [modules[n] for n in names if isinstance(modules[n], nn.modules.batchnorm._BatchNorm)]
    return names, norms


class TransferLearning(Defense):
    name = "tl"
    version = "1"
    paper = "Ho et al., Model Inversion Robustness: Can Transfer Learning Help?, CVPR 2024"
    code = "https://github.com/hosytuyen/TL-DMI"
    claims = (Defends("pre-training on public data and fine-tuning only the later layers lowers the attacks' accuracy"),)

    @dataclass(frozen=True)
    class Params:
        freeze: float = param(0.5, min=0.0, max=1.0,
                              help="fraction of the backbone's layers frozen after public pre-training")

    # Weakest first: the more layers stay frozen, the fewer ever see private data.
    ladder = Ladder.of("freeze", (0.3, 0.5, 0.7, 0.9))

    def train(self, ctx: DefenseContext) -> Classifier:
        public = public_with_indexed_labels(ctx.data.public)
        backbone = ctx.make_backbone()
        # Both heads are drawn before the stage, so a cached pre-training yields the same model.
        pretrain_head = nn.Linear(backbone.feature_dim, len(public.classes))
        model = Classifier(backbone, self.head(backbone.feature_dim, ctx.num_classes))
        ctx.stage(Classifier(backbone, pretrain_head), "tl-pretrain", {},
                  lambda m: ctx.fit(m, data=public, description="target [tl: pre-train on public data]"))
        names, norms = freeze(backbone, self.params.freeze)
        ctx.fit(model, loss_fn=self.loss, eval_modules=norms,
                description=f"target [tl: fine-tune, frozen {', '.join(names) or 'nothing'}]")
        return model

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``fine-tune step``: one step of stage 2, the first ``freeze`` of the backbone frozen (its
        pre-training on public data is a plain cross-entropy step, the bench's target train step)."""
        backbone = ctx.make_backbone()
        model = Classifier(backbone, self.head(backbone.feature_dim, ctx.num_classes))
        _, norms = freeze(backbone, self.params.freeze)
        return {"fine-tune step": self.train_step(ctx, model, eval_modules=norms)}
