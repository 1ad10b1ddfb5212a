"""``mibench bench``: each hot loop of a suite timed at its real sizes against the device's matmul peak."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from ..progress import console, stdout
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", parents=[_common.runtime(), _common.board()],
                            help="time each hot loop of a suite at its real sizes against the device's matmul peak")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per loop (default: 2)")
    parser.add_argument("--inversion-batch", type=int, default=None,
                        help="cap the inversion batch (default: the whole attack budget at once)")
    parser.add_argument("--loops", default="", metavar="NAME[,NAME]",
                        help="only these loops: exact names or parts of names, e.g. 'attack brep' or 'GAN step' "
                             "(default: every loop the suite and the registered components declare)")
    parser.add_argument("--out", default="", help="JSON file (default: bench-<suite>-<device>.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import run_bench, write_json
    from ..runner import resolve_device

    device = resolve_device(args.device)
    wanted = [w.strip() for w in args.loops.split(",") if w.strip()] or None
    result = run_bench(args.suite, device, args.profile, args.seconds, args.inversion_batch, args.precision, wanted)
    table = Table(title=f"mibench bench: {args.suite} ({args.profile}) on {device}, {result['threads']} threads; "
                        f"matmul peak " + ", ".join(f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in result["peak_flops"].items()))
    for col in ("loop", "precision", "items/step", "items/s", "GFLOP/item", "TFLOP/s", "ratio to peak"):
        table.add_column(col, justify="left" if col in ("loop", "precision") else "right")
    for r in result["loops"]:
        table.add_row(r["loop"], r["precision"], str(r["items_per_step"]), f"{r['items_per_s']:.4g}",
                      f"{r['flops_per_item'] / 1e9:.4g}", f"{r['achieved_flops'] / 1e12:.4g}", f"{r['ratio_to_peak']:.3f}")
    stdout.print(table)
    out = Path(args.out or f"bench-{args.suite}-{device.type}.json")
    write_json(result, out)
    console.print(f"bench: {out}")
    return 0
