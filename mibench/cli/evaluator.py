"""``mibench evaluator export``: train the suite's judge from its recipe and write its weights file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..progress import console
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluator", parents=[_common.runtime()],
                            help="export: train the suite's judge from its recipe and write its weights file")
    parser.add_argument("action", choices=["export"])
    parser.add_argument("--suite", default="mnist")
    parser.add_argument("--out", type=Path, required=True, help="folder for the weights file and its JSON description")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_judge

    path, description = export_judge(args.suite, args.out, device=args.device, cache_root=args.cache_dir,
                                     data_root=args.data_root)
    console.print(f"wrote {path} (SHA-256 {description['sha256']}; accuracy {description['accuracy']:.4f} on all "
                  f"{description['config']['classes']} classes, {description['accuracy_private']:.4f} on private_test)")
    return 0
