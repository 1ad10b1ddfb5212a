"""``mibench target export``: write a profile's default targets as the files a suite ships."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..progress import console
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("target", parents=[_common.runtime(), _common.board()],
                            help="export: train each defense's default target from its recipe (or take it from the "
                                 "cache) and write the files a suite ships")
    parser.add_argument("action", choices=["export"])
    parser.add_argument("--defenses", default="all", help="all, or comma-separated names (default: all)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the target files and <suite>-targets.json (the package's: mibench/weights)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_targets
    from ..registries import DEFENSES

    names = DEFENSES.names() if args.defenses == "all" else [n.strip() for n in args.defenses.split(",") if n.strip()]
    for name in names:
        DEFENSES.get(name)  # an unknown name lists what exists, before any training
    manifest, entries = export_targets(args.suite, names, args.out, profile=args.profile, device=args.device,
                                       cache_root=args.cache_dir, data_root=args.data_root)
    for e in entries:
        console.print(f"wrote {args.out / e['file']} ({e['defense']}: natural accuracy {e['natural_acc']:.4f}; "
                      f"SHA-256 {e['sha256'][:16]}..., key {e['key'][:16]}...)")
    console.print(f"wrote {manifest}")
    return 0
