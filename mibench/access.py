"""Access-limited views of the target model (docs/layout.md, data flow; docs/components.md).

An attack declares the access it needs and receives exactly that view:
- :class:`WhiteBox`: differentiable logits (gradients flow to the input, not to the weights) and
  the penultimate features (``Classifier.features``, the input of the head): white-box access
  includes the network's internals;
- :class:`BlackBox`: soft labels (softmax probabilities), no gradients;
- :class:`LabelOnly`: the predicted label only.
The model is held in a closure that already reduces its output to what the view gives, so neither
an attribute nor a private method of a label-only view returns logits or probabilities. Every
image sent to the target counts as one query; a view built with a ``query_budget`` refuses the
query that would exceed it (:class:`QueryBudgetError`).

Stochastic targets. A module whose eval-mode output is random (MID's VIB head samples z at test
time, ``defenses/mid.py``) draws its noise from its own generator and implements ``reseed(seed)``;
it may also have a bool ``sample`` (False: its deterministic mean path). :func:`reseed` re-seeds
every such module of a model, so a sampled target is a function of the seed it is handed out with:
the suite's train seed for natural accuracy (:func:`mibench.stages.train_target`) and the run seed
for the attack's view (``view_for(..., seed=)``). A target-dependent artifact or prior built through
the view draws noise seeded by its cache key (:func:`fixed_noise`), so it is the same whichever run
builds it, and the attack's noise afterwards is the same whether it came from the cache or not.
"""

from __future__ import annotations

import enum
import hashlib
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from .errors import QueryBudgetError


class Access(str, enum.Enum):
    WHITE_BOX = "white-box"
    BLACK_BOX = "black-box"
    LABEL_ONLY = "label-only"


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` (their ``repr``, hashed): independent streams for distinct parts."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:15], 16)


def stochastic_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module of ``model`` that implements ``reseed(seed)``."""
    return [(name, m) for name, m in model.named_modules() if callable(getattr(m, "reseed", None))]


def reseed(model: nn.Module, seed: int) -> None:
    """Re-seed the eval-time noise of every stochastic module of ``model`` (a stream per module name)."""
    for name, m in stochastic_modules(model):
        m.reseed(derive_seed(seed, name))


def samples(model: nn.Module) -> bool:
    """Whether ``model``'s eval-mode output is random (a stochastic module with ``sample`` on)."""
    return any(getattr(m, "sample", True) for _, m in stochastic_modules(model))


@contextmanager
def mean_path(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with every stochastic module on its mean path (``sample = False``), restored after."""
    saved = [(m, m.sample) for _, m in stochastic_modules(model) if hasattr(m, "sample")]
    try:
        for m, _ in saved:
            m.sample = False
        yield model
    finally:
        for m, value in saved:
            m.sample = value


class _View:
    access: Access

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __init__(self, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int],
                 query_budget: int | None = None, owner: str = "the attack", seed: int | None = None):
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        self._reseed = lambda tag: reseed(model, derive_seed("target noise", tag))
        self._seed = seed
        if seed is not None:
            self._reseed(seed)
        reduce = type(self)._reduce
        self._query: Callable[[torch.Tensor], torch.Tensor] = lambda x: reduce(model(x))
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.query_budget = query_budget
        self.queries = 0
        self._owner = owner

    def _ask(self, x: torch.Tensor, query: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        if self.query_budget is not None and self.queries + len(x) > self.query_budget:
            raise QueryBudgetError(f"{self._owner} declared a budget of {self.query_budget} target queries and asked "
                                   f"for {self.queries + len(x)} ({self.queries} already used, {len(x)} more); "
                                   f"raise its budget parameter or lower its steps")
        self.queries += len(x)
        return (query or self._query)(x)


class WhiteBox(_View):
    access = Access.WHITE_BOX

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits

    def __init__(self, model: nn.Module, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self._penultimate = (lambda x: model.features(x)) if hasattr(model, "features") else None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The target's penultimate feature (differentiable like the logits); each image counts as a query."""
        if self._penultimate is None:
            raise TypeError("this white-box target has no penultimate features (a mibench.models.Classifier has)")
        return self._ask(x, self._penultimate)

    __call__ = logits


class BlackBox(_View):
    access = Access.BLACK_BOX

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits.detach().softmax(1)

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    __call__ = probs


class LabelOnly(_View):
    access = Access.LABEL_ONLY

    @staticmethod
    def _reduce(logits: torch.Tensor) -> torch.Tensor:
        return logits.detach().argmax(1)

    @torch.no_grad()
    def labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._ask(x)

    __call__ = labels


VIEWS = {Access.WHITE_BOX: WhiteBox, Access.BLACK_BOX: BlackBox, Access.LABEL_ONLY: LabelOnly}


def view_for(access: Access, model: nn.Module, num_classes: int, image_shape: tuple[int, int, int],
             query_budget: int | None = None, owner: str = "the attack", seed: int | None = None) -> _View:
    """``access``'s view of ``model``; with ``seed`` (the run seed), a stochastic target's noise is
    re-seeded from it (:func:`reseed`)."""
    return VIEWS[Access(access)](model, num_classes, image_shape, query_budget, owner, seed)


@contextmanager
def fixed_noise(view: object, key: str) -> Iterator[None]:
    """Around a cached, target-dependent build through ``view`` (:func:`mibench.stages.counted_build`):
    the target's noise inside is seeded by ``key`` (the cache key) alone, and afterwards by the
    view's seed and ``key``, whether the build ran or came from the cache. A view without a seed
    (or not a :class:`_View`) is left as it is."""
    if getattr(view, "_seed", None) is None:
        yield
        return
    view._reseed(("build", key))
    try:
        yield
    finally:
        view._reseed((view._seed, "after", key))
