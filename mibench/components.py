"""Base class shared by every registered component, and its typed parameters.

A component declares its identity as class attributes (``name``, ``version``, ``paper``, ``code``)
and its hyper-parameters as a frozen dataclass ``Params`` whose defaults are the paper's recipe.
Fields are declared with :func:`param`, which adds what the harness must know about them:

- ``budget="epochs" | "iterations" | "steps"``: a compute budget. A suite profile scales every
  budget field of every component (third-party plugins included) by its factor for that kind;
- ``min`` / ``max`` / ``choices``: the valid range, checked before any work starts.

Resolution order: the paper's defaults, then the profile's budget scaling, then the profile's
explicit per-component overrides (semantic changes such as a rank), then the user's ``--set``.
The resolved values are stored in every run record.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar

from .errors import ConfigError

BUDGET_KINDS = ("epochs", "iterations", "steps")


def param(default: Any, *, budget: str | None = None, min: float | None = None, max: float | None = None,
          choices: tuple | None = None, help: str = "") -> Any:
    """A ``Params`` field with its default, budget kind and valid range (see the module docstring)."""
    if budget is not None and budget not in BUDGET_KINDS:
        raise ValueError(f"budget must be one of {BUDGET_KINDS}, got {budget!r}")
    if budget is not None and min is None:
        min = 0
    meta = {"budget": budget, "min": min, "max": max, "choices": choices, "help": help}
    return dataclasses.field(default=default, metadata={k: v for k, v in meta.items() if v not in (None, "")})


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A component without hyper-parameters."""


class Component:
    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    code: ClassVar[str] = ""
    claims: ClassVar[tuple] = ()  # what its paper claims, re-tested on a board (mibench.claims)
    Params: ClassVar[type] = NoParams

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = resolve_params(self.Params, params or {}, owner=f"{type(self).__name__} ({self.name})")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "version": cls.version, "paper": cls.paper, "code": cls.code}


def check_params_class(params_cls: type, owner: str) -> None:
    """A ``Params`` must be a dataclass whose every field has a default (the paper's value)."""
    if not dataclasses.is_dataclass(params_cls):
        raise ConfigError(f"{owner}: Params must be a @dataclass, got {params_cls!r}")
    bare = [f.name for f in dataclasses.fields(params_cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if bare:
        raise ConfigError(f"{owner}: every Params field needs a default (the paper's value); missing for {', '.join(bare)}")


def resolve_params(params_cls: type, overrides: dict[str, Any], owner: str = "component"):
    """Build ``params_cls`` from its defaults and ``overrides``; unknown keys and bad values are errors."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(
            f"{owner} has no parameter {', '.join(map(repr, unknown))}. "
            f"Its parameters: {', '.join(sorted(fields)) or '(none)'}"
        )
    values = {k: _coerce(fields[k], v, owner) for k, v in overrides.items()}
    params = params_cls(**values)
    for f in fields.values():
        _check_range(f, getattr(params, f.name), owner)
    return params


def scale_budget(params_cls: type, factors: dict[str, float]) -> dict[str, Any]:
    """Overrides that multiply every budget field of ``params_cls`` by ``factors[kind]``.

    Integer budgets are rounded and kept at least 1 when the paper's value is positive, so a scaled
    run never silently skips a stage; float budgets (fractional epochs) are scaled exactly.
    """
    out = {}
    for f in dataclasses.fields(params_cls):
        kind = f.metadata.get("budget")
        if kind is None or kind not in factors or f.default is dataclasses.MISSING:
            continue
        value = f.default * factors[kind]
        if isinstance(f.default, int) and not isinstance(f.default, bool):
            value = max(1 if f.default > 0 else 0, round(value))
        out[f.name] = value
    return out


def budget_fields(params_cls: type) -> dict[str, str]:
    """``{field: budget kind}`` of ``params_cls``."""
    return {f.name: f.metadata["budget"] for f in dataclasses.fields(params_cls) if f.metadata.get("budget")}


def _check_range(field: dataclasses.Field, value: Any, owner: str) -> None:
    meta = field.metadata
    bad = None
    if "choices" in meta and value not in meta["choices"]:
        bad = f"must be one of {', '.join(map(repr, meta['choices']))}"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            bad = "must be a number, not NaN"
        elif "min" in meta and value < meta["min"]:
            bad = f"must be >= {meta['min']}"
        elif "max" in meta and value > meta["max"]:
            bad = f"must be <= {meta['max']}"
    if bad:
        raise ConfigError(f"{owner}: parameter {field.name}={value!r} {bad}")


def _coerce(field: dataclasses.Field, value: Any, owner: str) -> Any:
    """Turn CLI strings (and JSON lists) into the field's declared type."""
    default = field.default if field.default is not dataclasses.MISSING else None
    if default is None or not isinstance(value, str):
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, (int, float)):
            return type(default)(value)
        if isinstance(default, tuple):
            return tuple(json.loads(value))
    except ValueError as exc:
        raise ConfigError(f"{owner}: parameter {field.name}={value!r} is not a {type(default).__name__}") from exc
    return value


def params_dict(params) -> dict[str, Any]:
    """JSON-ready dict of a Params dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(params)))
