"""What an evaluator is: a function of the reconstructions and the suite's judge.

An evaluator declares the metrics it returns (:class:`Metric`: name, direction, format;
lm-evaluation-harness's metric declarations are the model), so the leaderboard's columns and its
ranking follow from the declarations and a new evaluator's numbers appear on the board without
editing the leaderboard code.

An :class:`EvalContext` carries the suite's judge (a classifier that may see every data role,
never attacked), its penultimate features of private_train (cached once per suite), the
private_train images, and the judge's outputs on *these* reconstructions, computed once per run
and shared by every evaluator. Evaluators may read private data; attacks may not.

An evaluator whose weights file (an :class:`~mibench.assets.Asset`) is absent does not fail the run
and never reports 0: it returns NaN for its metrics and leaves a note in :attr:`EvalContext.notes`
saying which file is missing and where to put it. A file with the wrong checksum is an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, ClassVar

import torch

from .assets import Asset, find
from .attack import Reconstructions
from .components import Component
from .data import ImageSet
from .errors import MissingAssetError
from .models import Classifier
from .tensors import batched

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    """A number an evaluator reports. ``higher_is_better`` is from the attacker's side: a higher
    attack accuracy means more leakage; a lower KNN distance or FID means more leakage."""

    name: str
    higher_is_better: bool
    description: str = ""
    fmt: str = ".4g"
    kind: str = "number"  # "number" or "text" (e.g. which FID backbone produced the number)
    fraction: bool = False
    """The share of the reconstructions that pass a yes/no test (top-k accuracy), in [0, 1]: checked
    within an absolute tolerance, and its 95 % interval resamples the hits of the reconstructions.
    Otherwise a distance or a score on its own scale: checked within a relative tolerance."""
    diagnostic: bool = False
    """A value that qualifies another (a spread within the run, a sample count, a parameter's echo):
    kept in the records and the CSV, but not shown, ranked, charted or checked."""


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
    assets_dirs: tuple[Path, ...] = ()
    """The run's ``--assets-dir`` folders, searched first for an evaluator's weights (:func:`mibench.assets.find`)."""
    notes: dict[str, str] = field(default_factory=dict)
    """What evaluators report beside their numbers, by evaluator name (e.g. the weights file a metric
    could not be computed without); stored in the record as ``evaluator_notes``."""
    weights: dict[str, str] = field(default_factory=dict)
    """The weights files evaluators used (file name -> SHA-256), recorded beside the judge's file in the
    record's ``evaluator_weights``."""
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    """Metrics evaluators break down by attacked class (metric -> class label -> value), stored in the
    record as ``per_class`` and shown by ``mibench leaderboard show --per-class``."""

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

    def verdicts(self, ctx: EvalContext) -> torch.Tensor | None:
        """Per reconstruction, whether this evaluator counts it a success (its top-1 test), as a bool
        tensor; None for an evaluator without a yes/no test (a distance). ``mibench leaderboard
        agreement`` compares two evaluators' verdicts on a board's stored reconstructions."""
        return None

    def find_asset(self, ctx: EvalContext, asset: Asset, *also: Path) -> tuple[Path, str] | None:
        """``asset``'s verified path and full SHA-256 (also left in ``ctx.weights``), looked for in
        ``ctx.assets_dirs``, then ``also``, then where every asset is (:func:`mibench.assets.find`).
        When it is nowhere: None, and the note saying which file is missing and where to put it is
        left in ``ctx.notes`` under this evaluator's name (the caller reports NaN, never 0). A file
        with the wrong checksum raises."""
        try:
            path, sha256 = find(asset, (*ctx.assets_dirs, *also))
        except MissingAssetError as missing:
            log.warning("%s: reported as NaN: %s", self.name, missing)
            ctx.notes[self.name] = str(missing)
            return None
        ctx.weights[path.name] = sha256
        return path, sha256
