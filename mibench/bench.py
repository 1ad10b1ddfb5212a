"""``mibench bench``: every hot loop of a suite at its real sizes, against the device's measured peak.

The suite's own loops, and the loops every registered attack, prior and defense declares with its
``hot_loops(ctx)`` hook (:mod:`mibench.hotloops`): the bench names no component. It hands each
component the context its ``run`` / ``train`` receives, filled with random data at the suite
profile's resolved sizes (no data set needed):

- the suite: ``target train step`` (one SGD step of the suite's target on a batch of the target
  recipe's size, uint8 images sent to the device and converted there, as
  :func:`mibench.training.fit` does) and ``judge forward`` (the judge's logits and features of a
  batch of 256 images);
- a defense (``defense NAME: LOOP``): a :class:`~mibench.defense.DefenseContext` with random
  private and public images and the profile's target recipe;
- a prior (``prior NAME: LOOP``): a :class:`~mibench.prior.PriorContext` with random public images
  and, for a target-scoped prior, the view of a randomly initialised target that its first
  requesting attack would get;
- an attack (``attack NAME: LOOP``): an :class:`~mibench.attack.AttackContext` with that target's
  view (no query budget), random public images, the profile's budget (``--inversion-batch`` caps
  its classes) and its priors trained for one step of their budget (the attack's loops need the
  prior's networks, not a good prior).

Per loop: items per second (what the component declares a step processes), FLOPs per item counted
with ``torch.utils.flop_counter``'s formulas (matrix multiplies and convolutions, forward and
backward), achieved FLOP/s and its ratio to the device's matrix-multiply peak measured in the same
run, in the loop's precision (fp32 on the CPU; fp32 and bf16 on CUDA). With ``--precision bf16``
the loops the pipeline autocasts (every component's) run under bf16 autocast as in a run and are
compared with the bf16 peak; the judge stays fp32. A ratio far below 1 marks the loop to speed up
first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from . import determinism
from .access import Access, view_for
from .attack import Attack, AttackContext
from .components import Component, budget_fields, resolve_params
from .data import DataRoles, ImageSet, PublicImages
from .defense import DefenseContext
from .errors import ConfigError
from .hotloops import HotLoop, fit_step
from .models import Classifier
from .prior import PriorContext
from .registries import ATTACKS, DEFENSES, MODELS, PRIORS, SUITES
from .tensors import as_float
from .training import cross_entropy

RANDOM_IMAGES = 512
"""Random images in each data role the bench hands out (public, private train)."""
JUDGE_BATCH = 256


@dataclass
class LoopResult:
    loop: str
    component: str
    items_per_step: int
    items_per_s: float
    flops_per_item: float
    achieved_flops: float
    ratio_to_peak: float
    steps_timed: int
    precision: str = "fp32"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """FLOP/s of a square matrix multiply (2 n^3 per product) on ``device``: the reference peak."""
    n = 4096 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if count % 8 == 0:
            sync(device)
    sync(device)
    return 2 * n ** 3 * count / (time.perf_counter() - start)


def time_loop(step: Callable[[], None], device: torch.device, seconds: float) -> tuple[float, int]:
    """Seconds per step after one warm-up step; at least one timed step, then until ``seconds`` pass."""
    step()
    sync(device)
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        step()
        sync(device)
        count += 1
    return (time.perf_counter() - start) / count, count


class FlopCount(TorchDispatchMode):
    """The FLOPs of the matrix multiplies and convolutions run inside (forward and backward), by the
    formulas of ``torch.utils.flop_counter``. Its ``FlopCounterMode`` also tracks modules, which
    breaks ``torch.autograd.grad`` inside a backward (WGAN-GP's gradient penalty); this tracks none."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(step: Callable[[], None]) -> int:
    with FlopCount() as counter:
        step()
    return counter.total


class Setting:
    """A suite profile's sizes filled with random data: the contexts the components' hooks receive."""

    def __init__(self, suite: str, profile: str, device: torch.device, inversion_batch: int | None):
        self.suite, self.profile_name, self.device = SUITES.get(suite)(), profile, device
        self.profile = self.suite.profile(profile)
        self.shape, self.classes = self.suite.image_shape, self.suite.num_classes
        self.public = PublicImages(self.random_set(RANDOM_IMAGES).images, "bench")
        self.budget = self.profile.budget
        per_class = self.budget.per_class * self.budget.seeds
        if inversion_batch is not None and inversion_batch < self.budget.total:
            classes = self.budget.classes[:max(1, inversion_batch // per_class)]
            self.budget = dataclasses.replace(self.budget, classes=classes)
        self.priors: dict[str, Any] = {}

    def random_set(self, n: int) -> ImageSet:
        return ImageSet(torch.randint(0, 256, (n, *self.shape), dtype=torch.uint8),
                        torch.randint(0, self.classes, (n,)))

    def classifier(self, arch: str, params: dict, classes: int) -> Classifier:
        backbone = MODELS.get(arch)(**params)
        return Classifier(backbone, nn.Linear(backbone.feature_dim, classes)).to(self.device)

    def params(self, kind: str, cls: type[Component], **overrides) -> dict[str, Any]:
        """``cls``'s parameters as the profile resolves them (``overrides`` last)."""
        values = {**self.suite.component_params(kind, cls, self.profile_name), **overrides}
        return dataclasses.asdict(resolve_params(cls.Params, values, owner=f"{kind[:-1]} {cls.name!r}"))

    def target(self) -> Classifier:
        """A randomly initialised target of the suite's architecture."""
        return self.classifier(self.suite.target_arch, self.suite.target_arch_params, self.classes)

    def view(self, access: Access):
        """``access``'s view of a target of its own (a view freezes its model), without a query budget."""
        return view_for(access, self.target(), self.classes, self.shape)

    def defense_context(self) -> DefenseContext:
        data = DataRoles(self.random_set(RANDOM_IMAGES), self.random_set(JUDGE_BATCH), self.random_set(RANDOM_IMAGES))
        return DefenseContext(data=data, num_classes=self.classes, recipe=self.profile.target, device=self.device,
                              make_backbone=lambda: MODELS.get(self.suite.target_arch)(**self.suite.target_arch_params),
                              seed=self.suite.train_seed)

    def prior_context(self, prior: type, view: Any = None) -> PriorContext:
        if prior.scope == "target" and view is None:
            view = self.view(requester_access(prior.name))
        return PriorContext(public=self.public, image_shape=self.shape, num_classes=self.classes, device=self.device,
                            seed=self.suite.train_seed, target=view if prior.scope == "target" else None,
                            target_arch=self.suite.target_arch if prior.scope == "target" else None)

    def trained_prior(self, name: str, view: Any) -> Any:
        """Prior ``name`` after one step of each budget (its real ``train``), loaded; once per bench."""
        if name not in self.priors:
            cls = PRIORS.get(name)
            one_step = {f: 0.0 if isinstance(getattr(cls.Params, f), float) else 1 for f in budget_fields(cls.Params)}
            prior, ctx = cls(self.params("priors", cls, **one_step)), self.prior_context(cls, view)
            self.priors[name] = prior.load(prior.train(ctx), ctx)
        return self.priors[name]

    def attack_context(self, attack: type[Attack]) -> AttackContext:
        view = self.view(attack.access)
        return AttackContext(target=view, public=self.public, budget=self.budget, image_shape=self.shape,
                             num_classes=self.classes, device=self.device, seed=0,
                             artifact=lambda name, config, build: build(),
                             prior=lambda name: self.trained_prior(name, view))


def requester_access(prior: str) -> Access:
    """The access of the first registered attack that requests ``prior`` (white-box if none does)."""
    return next((ATTACKS.get(a).access for a in ATTACKS.names() if prior in ATTACKS.get(a).priors), Access.WHITE_BOX)


def loops(setting: Setting, wanted: list[str] | None = None) -> dict[str, tuple[str, HotLoop]]:
    """``{loop name: (component, loop)}``: the suite's loops and those every registered defense,
    prior and attack declares, named ``"<kind> <name>: <loop>"``; with ``wanted``, only the loops it
    selects (:func:`select`). A component that no wanted name can reach is not built, and each one's
    unselected loops are dropped before the next is built, so that a bench of one loop of a large
    suite (celeba64) holds one component's models, not every component's."""
    suite = setting.suite
    out: dict[str, tuple[str, HotLoop]] = {}
    seen: list[str] = []

    def keep(found: dict[str, tuple[str, HotLoop]]) -> None:
        seen.extend(found)
        out.update({n: found[n] for n in (select(list(found), wanted, strict=False) if wanted else found)})

    def reachable(label: str) -> bool:
        """Whether a wanted name can select a loop of the component ``label`` (``"attack plg"``)."""
        return wanted is None or any(w.startswith(label + ":") or w in label or not _names_component(w)
                                     for w in wanted)

    if reachable(f"suite {suite.name}"):
        train = fit_step(setting.target(), setting.random_set(RANDOM_IMAGES), setting.profile.target, cross_entropy,
                         setting.device)
        keep({"target train step": (f"suite {suite.name}", train)})
    kinds = (("defenses", DEFENSES, lambda cls: setting.defense_context()), ("priors", PRIORS, setting.prior_context),
             ("attacks", ATTACKS, setting.attack_context))
    for kind, registry, context in kinds:
        for name in registry.names():
            component = f"{kind[:-1]} {name}"
            if not reachable(component):
                continue
            cls = registry.get(name)
            keep({f"{component}: {loop}": (component, hot)
                  for loop, hot in cls(setting.params(kind, cls)).hot_loops(context(cls)).items()})
    if reachable(f"suite {suite.name}"):
        judge = setting.classifier(suite.evaluator_arch, suite.evaluator_arch_params, suite.judge_classes).eval()
        images = as_float(setting.random_set(JUDGE_BATCH).images.to(setting.device))

        def judge_step() -> None:
            with torch.no_grad():
                judge.head(judge.features(images))

        keep({"judge forward": (f"suite {suite.name}", HotLoop(judge_step, JUDGE_BATCH, precision_follows_run=False))})
    if wanted:
        select(seen, wanted)  # a wanted name that selected nothing is an error naming every loop
    return out


def _names_component(wanted: str) -> bool:
    """Whether ``wanted`` starts with a component's label (``"attack plg: ..."``, ``"prior gmi-wgan"``):
    then only that component can hold its loops."""
    kind = wanted.split(" ", 1)[0]
    return kind in ("defense", "prior", "attack", "suite")


def select(names: list[str], wanted: list[str] | None, strict: bool = True) -> list[str]:
    """The loops ``wanted`` names (each an exact name, or else a substring of names); all if None.
    ``strict``: a wanted name that selects nothing is an error listing ``names``."""
    if wanted is None:
        return names
    unknown = [w for w in wanted if w not in names and not any(w in n for n in names)]
    if unknown and strict:
        raise ConfigError(f"--loops: no loop named {', '.join(map(repr, unknown))}; loops: {'; '.join(names)}")
    return [n for n in names if any(w == n or w in n for w in wanted)]


def run_bench(suite: str, device: torch.device, profile: str = "full", seconds: float = 2.0,
              inversion_batch: int | None = None, precision: str = "fp32", wanted: list[str] | None = None) -> dict:
    """Time the loops ``wanted`` selects (:func:`select`) of ``suite`` at ``profile``'s sizes."""
    determinism.configure(determinism.thread_count(SUITES.get(suite).threads), precision)
    declared = loops(Setting(suite, profile, device, inversion_batch), wanted)
    chosen = list(declared)
    peaks = {"fp32": matmul_peak(device, torch.float32)}
    if device.type == "cuda" or precision == "bf16":
        peaks["bf16"] = matmul_peak(device, torch.bfloat16)
    results = []
    for name in chosen:
        component, loop = declared[name]
        loop_precision = precision if loop.precision_follows_run else "fp32"

        def timed(step=loop.step, loop_precision=loop_precision) -> None:
            with determinism.autocast(device) if loop_precision != "fp32" else contextlib.nullcontext():
                step()

        flops = count_flops(timed)
        per_step, count = time_loop(timed, device, seconds)
        achieved = flops / per_step
        results.append(LoopResult(name, component, loop.items, loop.items / per_step, flops / loop.items, achieved,
                                  achieved / peaks[loop_precision], count, loop_precision))
    return {"suite": suite, "profile": profile, "device": str(device), "precision": precision,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else determinism.describe(),
            "threads": torch.get_num_threads(), "peak_flops": peaks, "loops": [asdict(r) for r in results],
            "torch": torch.__version__}


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
