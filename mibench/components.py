"""Base class shared by every registered component, and its typed parameters.

A component declares its identity as class attributes (``name``, ``version``, ``paper``, ``code``)
and its hyper-parameters as a dataclass ``Params`` whose defaults are the paper's recipe. A suite
may scale some of them for its compute budget; the user may override any of them. The resolved
values are stored in every run record.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

from .errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A component without hyper-parameters."""


class Component:
    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    code: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = resolve_params(self.Params, params or {}, owner=f"{type(self).__name__} ({self.name})")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "version": cls.version, "paper": cls.paper, "code": cls.code}


def resolve_params(params_cls: type, overrides: dict[str, Any], owner: str = "component"):
    """Build ``params_cls`` from its defaults and ``overrides``; unknown keys are an error."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(
            f"{owner} has no parameter {', '.join(map(repr, unknown))}. "
            f"Its parameters: {', '.join(sorted(fields)) or '(none)'}"
        )
    values = {k: _coerce(fields[k], v, owner) for k, v in overrides.items()}
    return params_cls(**values)


def _coerce(field: dataclasses.Field, value: Any, owner: str) -> Any:
    """Turn CLI strings (and JSON lists) into the field's declared type."""
    default = field.default if field.default is not dataclasses.MISSING else None
    if default is None or not isinstance(value, str):
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
