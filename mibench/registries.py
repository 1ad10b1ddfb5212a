"""The registries, one per kind of component, all filled from entry points (``mibench.<kind>``)."""

from __future__ import annotations

from .attack import Attack
from .defense import Defense
from .evaluator import Evaluator
from .models import Backbone
from .prior import Prior
from .registry import Registry
from .suite import Suite

SUITES: Registry[Suite] = Registry("suites", Suite)
MODELS: Registry[Backbone] = Registry("models", Backbone)
DEFENSES: Registry[Defense] = Registry("defenses", Defense)
ATTACKS: Registry[Attack] = Registry("attacks", Attack, required=("name", "version", "paper", "code", "access"))
EVALUATORS: Registry[Evaluator] = Registry("evaluators", Evaluator)
PRIORS: Registry[Prior] = Registry("priors", Prior, required=("name", "version", "paper", "code", "scope"))

REGISTRIES = {r.kind: r for r in (SUITES, DEFENSES, ATTACKS, EVALUATORS, PRIORS, MODELS)}
