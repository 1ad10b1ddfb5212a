"""Typed, lazy registries of components, one per kind.

Built-in and third-party components are found the same way: through the entry-point groups
``mibench.<kind>`` (``mibench.defenses``, ``mibench.attacks``, ...). An entry point is imported only
when its name is selected, so a broken plugin fails only when somebody asks for it. Code can also
register a class directly with the :meth:`Registry.register` decorator (tests, notebooks).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Generic, TypeVar

from .components import check_params_class
from .errors import ConfigError, DuplicateComponentError, PluginLoadError, UnknownComponentError

T = TypeVar("T")

REQUIRED_ATTRIBUTES = ("name", "version", "paper", "code")


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
        self._origins: dict[str, tuple[str, str]] = {}
        self._conflicts: dict[str, str] = {}
        self._loaded: dict[str, type[T]] = {}

    # discovery -----------------------------------------------------------------------------
    def _discover(self) -> dict[str, metadata.EntryPoint]:
        """Entry points by name. A name claimed by two distributions is kept as a conflict: only
        that name fails (when selected), every other component stays usable."""
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            origins: dict[str, tuple[str, str]] = {}
            for ep in metadata.entry_points(group=self.group):
                dist = (ep.dist.name, ep.dist.version) if ep.dist is not None else ("?", "")
                if ep.name in found and found[ep.name].value != ep.value:
                    self._conflicts[ep.name] = (
                        f"{self.kind[:-1]} name {ep.name!r} is registered twice: by {origins[ep.name][0]} "
                        f"({found[ep.name].value}) and by {dist[0]} ({ep.value}); uninstall one of them"
                    )
                    continue
                found[ep.name] = ep
                origins[ep.name] = dist
            self._entry_points, self._origins = found, origins
        return self._entry_points

    def register(self, name: str | None = None) -> Callable[[type[T]], type[T]]:
        """Class decorator: ``@DEFENSES.register()`` registers under the class's ``name``."""

        def decorator(cls: type[T]) -> type[T]:
            key = name or getattr(cls, "name", None)
            if not key:
                raise ValueError(f"{cls.__qualname__} has no name to register under")
            if key in self._local or key in self._discover():
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
        return sorted(set(self._discover()) | set(self._local))

    def entries(self) -> list[Entry]:
        eps = self._discover()
        rows = [Entry(n, self._origins[n][0], ep.value, self._origins[n][1]) for n, ep in eps.items()]
        rows += [Entry(n, "code", f"{c.__module__}:{c.__qualname__}") for n, c in self._local.items()]
        return sorted(rows, key=lambda e: e.name)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def origin(self, name: str) -> dict[str, str]:
        """The distribution (and its version) that provides ``name``; ``code`` for @register."""
        if name in self._local:
            return {"distribution": "code", "distribution_version": ""}
        self._discover()
        dist, version = self._origins.get(name, ("?", ""))
        return {"distribution": dist, "distribution_version": version}

    def get(self, name: str) -> type[T]:
        """Load and return the component class called ``name``."""
        if name in self._conflicts:
            raise DuplicateComponentError(self._conflicts[name])
        if name in self._local:
            return self._local[name]
        if name in self._loaded:
            return self._loaded[name]
        eps = self._discover()
        if name not in eps:
            raise UnknownComponentError(self._unknown_message(name))
        try:
            cls = eps[name].load()
        except Exception as exc:  # a broken plugin fails here, only when selected
            raise PluginLoadError(
                f"{self.kind[:-1]} {name!r} from {self._origins[name][0]} ({eps[name].value}) failed to load: "
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
