"""What an evaluator is: a pure function of the reconstructions and the suite's judge.

An :class:`EvalContext` carries the suite's evaluation model (a classifier trained on the private
identities, never attacked), its penultimate features of private_train (cached once per suite) and
the private_train images. Evaluators may read private data; attacks may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from .attack import Reconstructions
from .components import Component
from .data import ImageSet
from .models import Classifier


@dataclass
class EvalContext:
    evaluator: Classifier
    private_train: ImageSet
    private_features: torch.Tensor  # evaluator.features of private_train, row-aligned
    device: torch.device
    artifact: Callable[[str, dict, Callable[[], dict]], dict] = field(repr=False)
    """``artifact(name, config, build)``: a suite-scoped cached value (e.g. FID reference statistics)."""
    evaluator_name: str = "evaluator"

    @torch.no_grad()
    def evaluator_outputs(self, images: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, penultimate features) of the evaluation model, on the CPU."""
        self.evaluator.eval()
        logits, feats = [], []
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(self.device)
            f = self.evaluator.features(x)
            feats.append(f.cpu())
            logits.append(self.evaluator.head(f).cpu())
        return torch.cat(logits), torch.cat(feats)


class Evaluator(Component):
    def evaluate(self, recon: Reconstructions, ctx: EvalContext) -> dict[str, float | str]:
        raise NotImplementedError
