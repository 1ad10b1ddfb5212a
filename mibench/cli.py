"""The ``mibench`` command line (argparse + rich).

    mibench run --defense NAME --attack NAME [--suite mnist] [--seed N] [--device auto|cpu|cuda]
                [--profile quick|full] [--out DIR] [--set defense.rank=8 ...]
    mibench ls [suites|defenses|attacks|evaluators|models]
    mibench leaderboard show|build|check [--suite S] [--profile P] [--dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from rich.table import Table

from . import __version__
from .errors import ConfigError, MibenchError
from .progress import console

DEFAULT_BOARDS = Path("leaderboards")


def _parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set defense.rank=8 --set evaluator.fid.subset=successful`` -> grouped overrides."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        group, dot, param = key.rpartition(".")
        if not sep or not dot or not group:
            raise ConfigError(f"--set {item!r}: expected GROUP.PARAM=VALUE, e.g. defense.rank=8 or attack.top_n=100")
        groups.setdefault(group, {})[param] = value
    return groups


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunOptions, run
    from .spec import resolve

    spec = resolve(args.suite, args.defense, args.attack, args.profile, args.seed, _parse_sets(args.set))
    options = RunOptions(device=args.device, out=Path(args.out), leaderboard_dir=args.leaderboard_dir,
                         cache_root=args.cache_dir, data_root=args.data_root)
    console.print(f"[bold]mibench run[/] suite={spec.suite} defense={spec.defense} attack={spec.attack} "
                  f"profile={spec.profile} seed={spec.seed} config={spec.config_hash}")
    record = run(spec, options)
    _print_metrics(record)
    return 0


def _print_metrics(record: dict[str, Any]) -> None:
    table = Table(title=f"{record['spec']['defense']} x {record['spec']['attack']} on {record['spec']['suite']} "
                        f"({record['spec']['profile']}, seed {record['spec']['seed']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = {"natural_acc": record["natural_acc"], "evaluator_acc": record["evaluator_acc"], **record["metrics"]}
    for k, v in rows.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    for stage, seconds in record["timings"].items():
        table.add_row(f"time: {stage}", f"{seconds:.1f} s")
    console.print(table)
    console.print(f"run folder: {record['run_folder']}")
    if "leaderboard" in record:
        console.print(f"leaderboard: {record['leaderboard']}")


def cmd_ls(args: argparse.Namespace) -> int:
    from .registries import REGISTRIES

    kinds = [args.kind] if args.kind else ["suites", "defenses", "attacks", "evaluators", "models"]
    for kind in kinds:
        registry = REGISTRIES[kind]
        table = Table(title=kind)
        for col in ("name", "version", "origin", "paper" if kind != "attacks" else "access / paper"):
            table.add_column(col)
        for entry in registry.entries():
            try:
                cls = registry.get(entry.name)
                detail = cls.paper if kind != "attacks" else f"{cls.access.value} / {cls.paper}"
                table.add_row(entry.name, cls.version, entry.origin, detail)
            except MibenchError as exc:  # a broken plugin is listed, not fatal
                table.add_row(entry.name, "?", entry.origin, f"[red]fails to load: {exc}")
        console.print(table)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from . import leaderboard as lb

    folder = Path(args.dir)
    board = lb.board_name(args.suite, args.profile)
    if args.action == "build":
        console.print(f"wrote {lb.build(folder, board)}")
        return 0
    frame = lb.read_board(folder / f"{board}.csv")
    if args.action == "show":
        shown = ["defense", "attack", "seed", "natural_acc", "attack_acc_top1", "attack_acc_top1_std",
                 "attack_acc_top5", "knn_dist", "fid", "fid_backbone", "runtime_s"]
        if args.markdown:
            print(lb.markdown(frame[shown]))
            return 0
        table = Table(title=f"leaderboard {board}")
        for col in shown:
            table.add_column(col)
        for _, row in frame.iterrows():
            table.add_row(*[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in shown])
        console.print(table)
        return 0
    return _check(folder, board, frame, args)


def _check(folder: Path, board: str, frame, args: argparse.Namespace) -> int:
    """Re-run every row of the board with its recorded config and compare within tolerances."""
    import json

    from . import leaderboard as lb
    from .runner import RunOptions, run
    from .spec import RunSpec

    tolerances = lb.load_tolerances(folder, board)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mibench-check-") as tmp:
        for _, row in frame.iterrows():
            record = json.loads((folder / row["record"]).read_text())
            spec = RunSpec.from_dict(record["spec"])
            console.print(f"[bold]check[/] {spec.defense} x {spec.attack} seed {spec.seed} ({spec.config_hash})")
            fresh = run(spec, RunOptions(device=args.device, out=Path(tmp), write_leaderboard=False,
                                         cache_root=args.cache_dir, data_root=args.data_root))
            actual = {"natural_acc": fresh["natural_acc"], **fresh["metrics"]}
            table = Table(title=f"{spec.defense} x {spec.attack} seed {spec.seed}")
            for col in ("metric", "committed", "recomputed", "tolerance", "ok"):
                table.add_column(col)
            for r in lb.compare(row.to_dict(), actual, tolerances):
                failures += not r["ok"]
                table.add_row(r["metric"], f"{r['expected']:.4g}", f"{r['actual']:.4g}", f"{r['tolerance']:.3g}",
                              "[green]ok" if r["ok"] else "[red]DRIFT")
            console.print(table)
    if failures:
        console.print(f"[red]leaderboard check failed: {failures} metric(s) outside their tolerance")
        return 1
    console.print(f"[green]leaderboard {board}: all {len(frame)} row(s) within tolerance")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mibench", description="Benchmark model-inversion attacks and defenses.")
    parser.add_argument("--version", action="version", version=f"mibench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log cache hits and stages")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="artifact cache (default: $MIBENCH_CACHE or ~/.cache/mibench)")
    common.add_argument("--data-root", type=Path, default=None, help="folder with the suite's data files")

    run_p = sub.add_parser("run", parents=[common], help="train, attack, evaluate; write a record and a leaderboard row")
    run_p.add_argument("--defense", required=True)
    run_p.add_argument("--attack", required=True)
    run_p.add_argument("--suite", default="mnist")
    run_p.add_argument("--profile", default="full", help="full (the suite's protocol) or quick (smoke test)")
    run_p.add_argument("--seed", type=int, default=0, help="attack seed (targets and evaluator use the suite's)")
    run_p.add_argument("--out", default="mibench-runs", help="folder for run folders (default: ./mibench-runs)")
    run_p.add_argument("--leaderboard-dir", type=Path, default=None,
                       help="leaderboard folder to add the row to (default: OUT/leaderboards)")
    run_p.add_argument("--set", action="append", default=[], metavar="GROUP.PARAM=VALUE",
                       help="override a parameter: defense.rank=8, attack.inversion_steps=100, evaluator.fid.subset=successful")
    run_p.set_defaults(func=cmd_run)

    ls_p = sub.add_parser("ls", help="list registered components and where they come from")
    ls_p.add_argument("kind", nargs="?", choices=["suites", "defenses", "attacks", "evaluators", "models"])
    ls_p.set_defaults(func=cmd_ls)

    lb_p = sub.add_parser("leaderboard", parents=[common], help="show, rebuild or check a leaderboard")
    lb_p.add_argument("action", choices=["show", "build", "check"])
    lb_p.add_argument("--suite", default="mnist")
    lb_p.add_argument("--profile", default="full")
    lb_p.add_argument("--dir", default=str(DEFAULT_BOARDS), help="leaderboard folder (default: ./leaderboards)")
    lb_p.add_argument("--markdown", action="store_true", help="show: print a Markdown table on standard output")
    lb_p.set_defaults(func=cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except MibenchError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: finished stages are cached; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
