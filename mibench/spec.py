"""RunSpec: everything that determines a run, as plain data (docs/layout.md, data flow).

CLI flags and record files only build a RunSpec. Its parameters are resolved: paper defaults,
then the suite profile's scaling, then the user's overrides; so the stored spec alone reproduces
the run. ``config_hash`` covers everything except the device and keys the leaderboard row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .cache import content_key
from .components import params_dict, resolve_params
from .errors import ConfigError
from .registries import ATTACKS, DEFENSES, EVALUATORS, PRIORS, SUITES


@dataclass(frozen=True)
class RunSpec:
    suite: str
    defense: str
    attack: str
    profile: str = "full"
    seed: int = 0
    control: bool = False
    """A control row: the attack with its target guidance switched off (the suite's ``controls``),
    or a control-only attack (``Attack.control_only``)."""
    defense_params: dict[str, Any] = field(default_factory=dict)
    attack_params: dict[str, Any] = field(default_factory=dict)
    evaluator_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    prior_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameters of the priors the attack requests (``Attack.priors``), by prior name."""
    suite_params: dict[str, Any] = field(default_factory=dict)
    """The suite's parameters (``--set suite.target=vgg16``), for suites that declare any."""
    weights: dict[str, str] = field(default_factory=dict)
    """Imported classifier files by role (``target``, ``evaluator``): their SHA-256 (``--weights``)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def config_hash(self) -> str:
        """Hash of the run's configuration without its seed: rows of several seeds share it. An attack
        without priors, and a suite without parameters, hash as before those existed, so their board
        rows keep their keys."""
        return content_key({k: v for k, v in self.to_dict().items()
                            if k != "seed" and not (k in ("prior_params", "suite_params", "weights") and not v)})[:16]


WEIGHT_ROLES = ("target", "evaluator")


def variant(spec: RunSpec, default: RunSpec, knobs: tuple[str, ...] = ()) -> str:
    """What ``spec`` sets away from ``default`` (the same suite, defense, attack, profile and control
    resolved without overrides), in ``--set`` spelling: ``group.param=value`` joined by ``;``, sorted,
    with imported files as ``weights.<role>=<sha256 prefix>``. The defense parameters in ``knobs``
    (its ladder's, which the strength column shows) are left out; empty for a default run."""
    groups = {"suite": (spec.suite_params, default.suite_params),
              "defense": ({k: v for k, v in spec.defense_params.items() if k not in knobs}, default.defense_params),
              "attack": (spec.attack_params, default.attack_params),
              **{f"evaluator.{e}": (p, default.evaluator_params.get(e, {})) for e, p in spec.evaluator_params.items()},
              **{f"prior.{n}": (p, default.prior_params.get(n, {})) for n, p in spec.prior_params.items()}}
    changed = [f"{group}.{k}={v}" for group, (params, usual) in groups.items()
               for k, v in params.items() if k not in usual or usual[k] != v]
    changed += [f"weights.{role}={sha[:12]}" for role, sha in spec.weights.items()]
    return ";".join(sorted(changed))


def control_attacks(suite) -> list[str]:
    """The attacks with a control row on ``suite``: those the suite declares a control for, and the
    registered control-only attacks (a name two distributions register is left out: selecting it fails)."""
    return [*suite.controls, *(a for a in ATTACKS.usable_names() if ATTACKS.get(a).control_only
                               and a not in suite.controls)]


def resolve(suite: str, defense: str, attack: str, profile: str = "full", seed: int = 0,
            overrides: dict[str, dict[str, Any]] | None = None, control: bool = False,
            weights: dict[str, str] | None = None) -> RunSpec:
    """Resolve names and parameters; unknown names and parameters raise errors that list the known ones.

    ``overrides`` maps ``"suite"``, ``"defense"``, ``"attack"``, ``"evaluator.<name>"`` or
    ``"prior.<name>"`` (a prior the attack requests) to parameter values.
    ``control`` applies the suite's control overrides for the attack (before the user's).
    ``weights`` pins imported classifier files by role (``target`` needs the ``none`` defense: a
    published file is an undefended model; a defense trains its own).
    """
    weights = dict(weights or {})
    bad_roles = sorted(set(weights) - set(WEIGHT_ROLES))
    if bad_roles:
        raise ConfigError(f"--weights {', '.join(bad_roles)}: unknown role; roles: {', '.join(WEIGHT_ROLES)}")
    if "target" in weights and defense != "none":
        raise ConfigError(f"--weights target=FILE imports an undefended published target; it cannot be combined "
                          f"with --defense {defense} (which trains its own target). Use --defense none.")
    overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    suite_obj = SUITES.get(suite)(params=overrides.pop("suite", None))
    attack_cls = ATTACKS.get(attack)
    if attack_cls.control_only and not control:
        raise ConfigError(f"attack {attack!r} is a control (no defense can change its score): run it with --control")
    if control:
        with_control = control_attacks(suite_obj)
        if attack not in with_control:
            raise ConfigError(f"suite {suite!r} declares no control for attack {attack!r}; controls exist for: "
                              f"{', '.join(with_control) or '(none)'}")
        overrides["attack"] = {**suite_obj.controls.get(attack, {}), **overrides.get("attack", {})}
    suite_obj.profile(profile)
    registries = {"defenses": DEFENSES, "attacks": ATTACKS, "evaluators": EVALUATORS, "priors": PRIORS}
    suite_obj.validate_profiles()

    def params(kind: str, name: str, key: str) -> dict[str, Any]:
        cls = registries[kind].get(name)
        merged = {**suite_obj.component_params(kind, cls, profile), **overrides.pop(key, {})}
        return params_dict(resolve_params(cls.Params, merged, owner=f"{kind[:-1]} {name!r}"))

    if attack_cls.access.value not in suite_obj.accesses:
        fitting = [a for a in ATTACKS.usable_names()
                   if ATTACKS.get(a).access.value in suite_obj.accesses and not ATTACKS.get(a).control_only]
        raise ConfigError(f"attack {attack!r} needs {attack_cls.access.value} access, which the targets of suite "
                          f"{suite!r} do not give (they give: {', '.join(suite_obj.accesses)}); attacks that fit: "
                          f"{', '.join(fitting) or '(none)'}")
    for name in attack_cls.priors:
        if name not in PRIORS:
            raise ConfigError(f"attack {attack!r} requests the prior {name!r}, which nothing registered; "
                              f"registered priors: {', '.join(PRIORS.names()) or '(none)'}")
    spec = RunSpec(
        suite=suite, defense=defense, attack=attack, profile=profile, seed=seed, control=control,
        defense_params=params("defenses", defense, "defense"),
        attack_params=params("attacks", attack, "attack"),
        evaluator_params={e: params("evaluators", e, f"evaluator.{e}") for e in suite_obj.evaluators},
        prior_params={p: params("priors", p, f"prior.{p}") for p in attack_cls.priors},
        suite_params=params_dict(suite_obj.params), weights=weights,
    )
    if overrides:
        raise ConfigError(f"unknown parameter groups {sorted(overrides)}; use suite, defense, attack, evaluator.<name> "
                          f"with <name> one of the suite's evaluators ({', '.join(suite_obj.evaluators)}) or "
                          f"prior.<name> with <name> a prior attack {attack!r} requests "
                          f"({', '.join(attack_cls.priors) or 'it requests none'})")
    return spec
