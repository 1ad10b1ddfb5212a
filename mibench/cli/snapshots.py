"""``mibench snapshots record|check``: the components' snapshots on the synthetic tiny suite
(:mod:`mibench.testing.command`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("snapshots", help="record or check the components' snapshots on the synthetic tiny suite "
                                              "(mibench.testing; docs/testing.md)")
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--out", type=Path, default=Path("tests/snapshots/tiny.json"),
                        help="the snapshot file (default: tests/snapshots/tiny.json)")
    parser.add_argument("--only", default="", metavar="KIND/NAME[,KIND/NAME]",
                        help="only these components, e.g. defenses/mine (default: every registered one); record keeps "
                             "the file's other entries")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..testing.command import run

    return run(args)
