"""What a suite is: a protocol (DESIGN.md, Suite).

A suite owns the data roles, the image shape, the target and evaluator architectures and their
training recipes, the attack budget and, per profile, the scaling of every component's iteration
counts. It is the only place where a paper's number ("600 inversion steps") is scaled down, and
every scaled value is stored in the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .attack import AttackBudget
from .components import Component
from .data import DataRoles
from .errors import ConfigError
from .training import TrainRecipe


@dataclass(frozen=True)
class Profile:
    description: str
    budget: AttackBudget
    target: TrainRecipe
    evaluator: TrainRecipe
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameter overrides keyed ``"<kind>.<name>"``, e.g. ``"attacks.plg": {"inversion_steps": 200}``."""


class Suite(Component):
    image_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int]
    target_arch: ClassVar[str]
    target_arch_params: ClassVar[dict[str, Any]] = {}
    evaluator_arch: ClassVar[str]
    evaluator_arch_params: ClassVar[dict[str, Any]] = {}
    evaluators: ClassVar[tuple[str, ...]] = ("accuracy", "knn", "fid")
    train_seed: ClassVar[int] = 0
    """Seed of the target and evaluator training: fixed, so that runs with other attack seeds reuse them."""
    profiles: ClassVar[dict[str, Profile]]

    def __init__(self, data_root: str | Path | None = None):
        super().__init__()
        self.data_root = Path(data_root).expanduser() if data_root else None

    def source(self) -> str:
        """Where the data comes from (stored in the record); raises DataSourceError when it is missing."""
        raise NotImplementedError

    def load(self) -> DataRoles:
        raise NotImplementedError

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ConfigError(f"suite {self.name!r} has no profile {name!r}; profiles: {', '.join(self.profiles)}")
        return self.profiles[name]

    def component_params(self, kind: str, name: str, profile: str) -> dict[str, Any]:
        return dict(self.profile(profile).components.get(f"{kind}.{name}", {}))
