"""The ``mibench`` command line (argparse + rich), one module per command, as lm-evaluation-harness
splits its CLI: each module's ``register`` adds its subparser; :mod:`._common` holds the parent
parsers, the old spellings and the option parsing.

    mibench run --defense NAME --attack NAME [--suite mnist] [--seed N] [--device auto|cpu|cuda]
                [--profile quick|full] [--out DIR] [--control] [--set defense.rank=8 ...]
    mibench ls [suites|defenses|attacks|priors|evaluators|models]
    mibench sweep [--suite S] [--profile P] [--defenses all|NAMES] [--attacks all|NAMES] [--seeds 0,1,2]
                  [--address auto|ray://HOST:PORT] [--workers N] [--dry-run]
    mibench frontier --attack NAME [--defenses NAMES] [--suite S] [--profile P] [--seeds 0,1,2] [--ladder D.P=V1,V2]
    mibench evaluator export --suite S --out DIR
    mibench target export --suite S [--defenses NAMES] --out DIR
    mibench snapshots record|check [--out FILE] [--only KIND/NAME,...]
    mibench leaderboard show [--suite S] [--profile P] [--dir DIR] [--markdown] [--defenses NAMES] [--attacks NAMES]
                             [--pivot [METRIC] | --per-class [METRIC]]
    mibench leaderboard build|tolerances|check|rejudge|site ... (``mibench leaderboard ACTION --help``)
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from rich.markup import escape

from .. import __version__
from ..errors import MibenchError
from ..progress import console
from . import bench, evaluator, frontier, leaderboard, ls, run, snapshots, sweep, target

COMMANDS = (run, frontier, sweep, evaluator, target, bench, ls, snapshots, leaderboard)
"""The command modules, in the order ``mibench --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mibench", description="Benchmark model-inversion attacks and defenses.")
    parser.add_argument("--version", action="version", version=f"mibench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log cache hits and stages")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run its command; a :class:`MibenchError` (an old flag spelling included) is one
    line on standard error and exit status 2."""
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        return args.func(args)
    except MibenchError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: finished stages are cached; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
