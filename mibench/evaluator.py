"""What an evaluator is: a function of the reconstructions and the suite's judge.

An evaluator declares the metrics it returns (:class:`Metric`: name, direction, format;
lm-evaluation-harness's metric declarations are the model), so the leaderboard's columns and its
ranking follow from the declarations and a new evaluator's numbers appear on the board without
editing the leaderboard code.

An :class:`EvalContext` carries the suite's judge (a classifier that may see every data role,
never attacked), its penultimate features of private_train (cached once per suite), the
private_train images, and the judge's outputs on *these* reconstructions, computed once per run
and shared by every evaluator. Evaluators may read private data; attacks may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, ClassVar

import torch

from .attack import Reconstructions
from .components import Component
from .data import ImageSet
from .models import Classifier
from .tensors import batched


@dataclass(frozen=True)
class Metric:
    """A number an evaluator reports. ``higher_is_better`` is from the attacker's side: a higher
    attack accuracy means more leakage; a lower KNN distance or FID means more leakage."""

    name: str
    higher_is_better: bool
    description: str = ""
    fmt: str = ".4g"
    kind: str = "number"  # "number" or "text" (e.g. which FID backbone produced the number)


@dataclass
class EvalContext:
    evaluator: Classifier
    private_train: ImageSet
    private_features: torch.Tensor  # evaluator.features of private_train, row-aligned
    recon: Reconstructions
    device: torch.device
    artifact: Callable[[str, dict, Callable[[], dict]], dict] = field(repr=False)
    """``artifact(name, config, build)``: a suite-scoped cached value (e.g. FID reference statistics)."""
    evaluator_name: str = "evaluator"

    @cached_property
    def _outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.evaluator.eval()
        feats = batched(self.evaluator.features, self.recon.images, self.device)
        return batched(self.evaluator.head, feats, self.device), feats

    @property
    def logits(self) -> torch.Tensor:
        """The judge's logits on the reconstructions (CPU), computed once per run."""
        return self._outputs[0]

    @property
    def features(self) -> torch.Tensor:
        """The judge's penultimate features of the reconstructions (CPU), computed once per run."""
        return self._outputs[1]


class Evaluator(Component):
    metrics: ClassVar[tuple[Metric, ...]] = ()
    """Every metric :meth:`evaluate` returns, declared (a returned name that is not declared is an error)."""

    def evaluate(self, ctx: EvalContext) -> dict[str, float | str]:
        raise NotImplementedError
