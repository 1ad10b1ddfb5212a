"""Typed, lazy registries of components, one per kind.

Built-in and third-party components are found the same way: through the entry-point groups
``mibench.<kind>`` (``mibench.defenses``, ``mibench.attacks``, ...). An entry point is imported only
when its name is selected, so a broken plugin fails only when somebody asks for it. A name that two
installed distributions register (a plugin's ``calor`` beside mibench's) is a clash: both are listed,
selecting the name is an error naming both, and every other name stays usable. Code can also
register a class directly with the :meth:`Registry.register` decorator (tests, notebooks).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Generic, TypeVar

from .components import check_params_class
from .errors import (ComponentClashError, ConfigError, DuplicateComponentError, PluginLoadError,
                     UnknownComponentError)

T = TypeVar("T")

REQUIRED_ATTRIBUTES = ("name", "version", "paper", "code")
BUILTIN_DISTRIBUTION = "mibench"
"""The distribution of the built-in components (a clash's message asks to uninstall the others)."""


@dataclass(frozen=True)
class Entry:
    """Where a registered name comes from, before it is loaded."""

    name: str
    origin: str  # distribution name for entry points, "code" for @register
    target: str  # "module:attr" of the entry point, or the qualified class name
    origin_version: str = ""  # the distribution's version ("" for @register)


class Registry(Generic[T]):
    """Name -> component class. ``kind`` is the plural noun shown to users ("defenses")."""

    def __init__(self, kind: str, base: type | None = None, required: tuple[str, ...] = REQUIRED_ATTRIBUTES):
        self.kind = kind
        self.group = f"mibench.{kind}"
        self.base = base
        self.required = required
        self._local: dict[str, type[T]] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._origins: dict[str, Entry] = {}
        self._conflicts: dict[str, list[Entry]] = {}
        self._loaded: dict[str, type[T]] = {}

    # discovery -----------------------------------------------------------------------------
    def _discover(self) -> dict[str, metadata.EntryPoint]:
        """Entry points of the names that one distribution provides. A name that several
        distributions provide is a clash (:meth:`clashes`): selecting it is an error, every other
        component stays usable."""
        if self._entry_points is None:
            providers: dict[str, dict[str, tuple[metadata.EntryPoint, Entry]]] = {}
            for ep in metadata.entry_points(group=self.group):
                dist, version = (ep.dist.name, ep.dist.version) if ep.dist is not None else ("?", "")
                providers.setdefault(ep.name, {})[dist] = (ep, Entry(ep.name, dist, ep.value, version))
            single = {n: next(iter(p.values())) for n, p in providers.items() if len(p) == 1}
            self._entry_points = {n: ep for n, (ep, _) in single.items()}
            self._origins = {n: entry for n, (_, entry) in single.items()}
            self._conflicts = {n: sorted((e for _, e in p.values()), key=lambda e: e.origin)
                               for n, p in providers.items() if len(p) > 1}
        return self._entry_points

    def register(self, name: str | None = None) -> Callable[[type[T]], type[T]]:
        """Class decorator: ``@DEFENSES.register()`` registers under the class's ``name``."""

        def decorator(cls: type[T]) -> type[T]:
            key = name or getattr(cls, "name", None)
            if not key:
                raise ValueError(f"{cls.__qualname__} has no name to register under")
            if key in self:
                raise DuplicateComponentError(f"{self.kind[:-1]} name {key!r} is already registered")
            self._validate(key, cls)
            self._local[key] = cls
            return cls

        return decorator

    def unregister(self, name: str) -> None:
        """Remove a class registered in code (tests use this to clean up)."""
        self._local.pop(name)

    # lookup ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, clashing ones included."""
        return sorted(set(self._discover()) | set(self._conflicts) | set(self._local))

    def entries(self) -> list[Entry]:
        """Every provider of every name: a clashing name has one entry per distribution."""
        self._discover()
        rows = [*self._origins.values(), *(e for providers in self._conflicts.values() for e in providers)]
        rows += [Entry(n, "code", f"{c.__module__}:{c.__qualname__}") for n, c in self._local.items()]
        return sorted(rows, key=lambda e: (e.name, e.origin))

    def clashes(self) -> dict[str, list[Entry]]:
        """Names that more than one distribution provides, with their providers; selecting one is an error."""
        self._discover()
        return dict(self._conflicts)

    def usable_names(self) -> list[str]:
        """The names that can be selected: every registered name but the clashing ones."""
        return [n for n in self.names() if n not in self._conflicts]

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def origin(self, name: str) -> dict[str, str]:
        """The distribution (and its version) that provides ``name``; ``code`` for @register, ``?`` for a clash."""
        if name in self._local:
            return {"distribution": "code", "distribution_version": ""}
        self._discover()
        entry = self._origins.get(name, Entry(name, "?", ""))
        return {"distribution": entry.origin, "distribution_version": entry.origin_version}

    def get(self, name: str) -> type[T]:
        """Load and return the component class called ``name``."""
        if name in self._local:
            return self._local[name]
        eps = self._discover()
        if name in self._conflicts:
            raise ComponentClashError(self._clash_message(name))
        if name in self._loaded:
            return self._loaded[name]
        if name not in eps:
            raise UnknownComponentError(self._unknown_message(name))
        try:
            cls = eps[name].load()
        except Exception as exc:  # a broken plugin fails here, only when selected
            raise PluginLoadError(
                f"{self.kind[:-1]} {name!r} from {self._origins[name].origin} ({eps[name].value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._validate(name, cls)
        self._loaded[name] = cls
        return cls

    def create(self, name: str, *args, **kwargs) -> T:
        return self.get(name)(*args, **kwargs)

    # helpers ---------------------------------------------------------------------------------
    def _unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind[:-1]} {name!r}.{hint} Known {self.kind}: {', '.join(known) or '(none)'}"

    def _clash_message(self, name: str) -> str:
        providers = self._conflicts[name]
        listed = " and ".join(f"{e.origin} {e.origin_version} ({e.target})" for e in providers)
        plugins = [e.origin for e in providers if e.origin != BUILTIN_DISTRIBUTION]
        return (f"{self.kind[:-1]} {name!r} is registered by {len(providers)} installed distributions, {listed}, "
                f"and mibench cannot tell which one you mean. Uninstall one (pip uninstall {' or '.join(plugins)}), "
                f"or give the plugin's {self.kind[:-1]} a name of its own: rename its entry point (group "
                f"{self.group}) and its class's `name`, then reinstall it")

    def _validate(self, name: str, cls: type) -> None:
        if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PluginLoadError(f"{self.kind[:-1]} {name!r} must subclass {self.base.__name__}, got {cls!r}")
        missing = [a for a in self.required if not getattr(cls, a, None)]
        if missing:
            raise PluginLoadError(f"{self.kind[:-1]} {name!r} does not declare {', '.join(missing)}")
        params = getattr(cls, "Params", None)
        if params is not None:
            try:
                check_params_class(params, f"{self.kind[:-1]} {name!r}")
            except ConfigError as exc:
                raise PluginLoadError(str(exc)) from exc
        if getattr(cls, "name", name) != name:
            raise PluginLoadError(
                f"{self.kind[:-1]} registered as {name!r} declares name {cls.name!r}; the two must agree"
            )
