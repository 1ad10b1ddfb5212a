"""What a suite is: a protocol (docs/layout.md, data flow: Suite; docs/protocol-card.md).

A suite owns the data roles, the image shape, the target and evaluator (judge) architectures and
their training recipes (or the judge's shipped weights), the attack budget and, per profile, the scaling of every component's
budget parameters. It is the only place where a paper's number ("600 inversion steps") is scaled
down, and every scaled value is stored in the run record together with the profile's notes.

Scaling a profile: ``budget_scale`` multiplies every ``Params`` field declared with
``param(..., budget=KIND)`` (``epochs``, ``iterations``, ``steps``) of every component, plugins
included; ``components`` holds explicit overrides for semantic changes (a rank, no horizontal flip),
keyed ``"<kind>.<name>"``. Both are validated: a key naming no component kind or no field is an
error, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .assets import Asset
from .attack import AttackBudget
from .cache import Cache
from .components import BUDGET_KINDS, Component, resolve_params, scale_budget
from .data import DataRoles
from .errors import ConfigError, MibenchError
from .training import TrainRecipe

COMPONENT_KINDS = ("defenses", "attacks", "evaluators", "priors")


@dataclass(frozen=True)
class Profile:
    description: str
    budget: AttackBudget
    target: TrainRecipe
    budget_scale: dict[str, float] = field(default_factory=dict)
    """Factor per budget kind (``epochs``, ``iterations``, ``steps``) applied to every component."""
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Explicit overrides keyed ``"<kind>.<name>"``, e.g. ``"defenses.calor": {"rank": 2}``."""
    notes: dict[str, str] = field(default_factory=dict)
    """Why each value differs from the papers' recipe; stored in every record of this profile."""
    ladders: dict[str, Any] = field(default_factory=dict)
    """Strength ladders for this suite, by defense name (:class:`mibench.defense.Ladder`), replacing
    the defense's own where the suite's recipe differs (BiDO's COCO weights on MNIST)."""

    def __post_init__(self):
        bad = sorted(set(self.budget_scale) - set(BUDGET_KINDS))
        if bad:
            raise ConfigError(f"profile budget_scale has unknown kinds {bad}; kinds: {', '.join(BUDGET_KINDS)}")
        for key in self.components:
            kind, dot, name = key.partition(".")
            if kind not in COMPONENT_KINDS or not dot or not name:
                raise ConfigError(f"profile component key {key!r} must be '<kind>.<name>' with kind one of "
                                  f"{', '.join(COMPONENT_KINDS)} (e.g. 'attacks.plg')")


class Suite(Component):
    image_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int]
    """Classes of the target (private identities)."""
    evaluator_classes: ClassVar[int | None] = None
    """Classes the judge answers (default ``num_classes``); private class c is judge class c."""
    target_arch: ClassVar[str]
    target_arch_params: ClassVar[dict[str, Any]] = {}
    evaluator_arch: ClassVar[str]
    evaluator_arch_params: ClassVar[dict[str, Any]] = {}
    evaluator_recipe: ClassVar[TrainRecipe]
    """How the judge is trained (by ``mibench evaluator export``, or per machine without an asset)."""
    evaluator_asset: ClassVar[Asset | None] = None
    """The judge's shipped weights, produced by ``mibench evaluator export`` from ``evaluator_recipe``:
    every machine and profile then judges with the same network (see :mod:`mibench.assets`)."""
    target_assets: ClassVar[dict[str, Asset]] = {}
    """Default targets shipped as files (``mibench target export``), by the content key of the
    target each holds: a run whose target has that key loads the file instead of training, unless
    ``--retrain-targets`` (``leaderboard check`` always trains). The file is the trained target, so
    the key, and every record, is the same either way."""
    evaluators: ClassVar[tuple[str, ...]] = ("accuracy", "knn", "fid")
    primary_metric: ClassVar[str] = "attack_acc_top1"
    """The metric boards rank by (declared by one of the suite's evaluators)."""
    train_seed: ClassVar[int] = 0
    """Seed of the target and evaluator training: fixed, so that runs with other attack seeds reuse them."""
    threads: ClassVar[int] = 2
    """CPU threads of every run of the suite (fixed: the order of float reductions depends on it)."""
    profiles: ClassVar[dict[str, Profile]]
    accesses: ClassVar[tuple[str, ...]] = ("white-box", "black-box", "label-only")
    """The access kinds the suite's targets can give an attack (a deployed API gives no gradients)."""
    controls: ClassVar[dict[str, dict[str, Any]]] = {}
    """Control rows: attack name -> ``--set`` overrides that switch its target guidance off."""

    def __init__(self, data_root: str | Path | None = None, params: dict[str, Any] | None = None):
        super().__init__(params)
        self.data_root = Path(data_root).expanduser() if data_root else None

    @property
    def judge_classes(self) -> int:
        return self.evaluator_classes or self.num_classes

    def source(self) -> str:
        """Where the data comes from (stored in the record); raises DataSourceError when it is missing."""
        raise NotImplementedError

    def load(self, cache: Cache | None = None) -> DataRoles:
        """The data roles. ``cache`` is the run's cache (``--cache-dir``; ``None``: the default one): a
        suite that keeps files derived from its data (celeba64's decoded images) writes them there only."""
        raise NotImplementedError

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ConfigError(f"suite {self.name!r} has no profile {name!r}; profiles: {', '.join(self.profiles)}")
        return self.profiles[name]

    def component_params(self, kind: str, component: type[Component], profile: str) -> dict[str, Any]:
        """The profile's values for ``component``: its scaled budgets, then its explicit overrides."""
        prof = self.profile(profile)
        explicit = prof.components.get(f"{kind}.{component.name}", {})
        return {**scale_budget(component.Params, prof.budget_scale), **explicit}

    def validate_profiles(self) -> None:
        """Every profile key must name a registered component and existing, valid parameters. A name
        that several distributions register is skipped: selecting it is the error (its message names
        them), and runs of other components go on."""
        from .registries import REGISTRIES as registries  # they import this module
        for pname, prof in self.profiles.items():
            for key, values in prof.components.items():
                kind, _, name = key.partition(".")
                if name in registries[kind].clashes():
                    continue
                owner = f"suite {self.name!r} profile {pname!r} key {key!r}"
                try:
                    cls = registries[kind].get(name)
                except MibenchError as exc:
                    raise ConfigError(f"{owner} names no usable component: {exc}") from exc
                resolve_params(cls.Params, {**scale_budget(cls.Params, prof.budget_scale), **values}, owner=owner)
            for name, ladder in prof.ladders.items():
                if name in registries["defenses"].clashes():
                    continue
                owner = f"suite {self.name!r} profile {pname!r} ladder of {name!r}"
                try:
                    cls = registries["defenses"].get(name)
                except MibenchError as exc:
                    raise ConfigError(f"{owner} names no usable defense: {exc}") from exc
                explicit = prof.components.get(f"defenses.{name}", {})
                for point in ladder.points:
                    resolve_params(cls.Params, {**scale_budget(cls.Params, prof.budget_scale), **explicit, **point},
                                   owner=owner)

    def describe_profile(self, profile: str) -> dict[str, Any]:
        prof = self.profile(profile)
        return {"name": profile, "description": prof.description, "budget_scale": dict(prof.budget_scale),
                "components": prof.components, "notes": dict(prof.notes),
                "target_recipe": dataclasses.asdict(prof.target)}
