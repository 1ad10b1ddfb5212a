"""``mibench ls``: the registered components, where each comes from, and the names two packages register."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..errors import MibenchError
from ..progress import stdout

KINDS = ["suites", "defenses", "attacks", "priors", "evaluators", "models"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ls", help="list registered components and where they come from")
    parser.add_argument("kind", nargs="?", choices=KINDS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..registries import REGISTRIES

    kinds = [args.kind] if args.kind else KINDS
    for kind in kinds:
        registry = REGISTRIES[kind]
        table = Table(title=kind)
        for col in ("name", "version", "origin", {"attacks": "access / paper", "priors": "scope / paper"}.get(kind, "paper")):
            table.add_column(col)
        clashes = registry.clashes()
        for entry in registry.entries():
            origin = f"{entry.origin} {entry.origin_version}".strip()
            if entry.name in clashes:  # each provider is listed; selecting the name is an error
                others = " and ".join(f"{e.origin} {e.origin_version}" for e in clashes[entry.name] if e != entry)
                table.add_row(f"{entry.name} [red](clash)", "?", origin,
                              f"[red]clash: {others} registers {entry.name!r} too; selecting it is an error until "
                              f"one is uninstalled or the plugin's entry point renamed")
                continue
            try:
                cls = registry.get(entry.name)
                detail = {"attacks": lambda: f"{cls.access.value} / {cls.paper}",
                          "priors": lambda: f"{cls.scope} / {cls.paper}"}.get(kind, lambda: cls.paper)()
                table.add_row(entry.name, cls.version, origin, detail)
            except MibenchError as exc:  # a broken plugin is listed, not fatal
                table.add_row(entry.name, "?", origin, f"[red]fails to load: {exc}")
        stdout.print(table)
    return 0
