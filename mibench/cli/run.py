"""``mibench run``: one defense x one attack at one seed; a record and a board row."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..progress import console
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", parents=[_common.runtime(), _common.rows(
        "override a parameter: defense.rank=8, attack.inversion_steps=100, evaluator.fid.subset=successful")],
        help="train, attack, evaluate; write a record and a leaderboard row")
    parser.add_argument("--defense", required=True)
    parser.add_argument("--attack", required=True)
    parser.add_argument("--seed", type=int, default=0, help="attack seed (targets and evaluator use the suite's)")
    parser.add_argument("--control", action="store_true",
                        help="the control row: the attack with its target guidance off (the suite's chance level)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..leaderboard import board_name
    from ..runner import Pipeline
    from ..spec import resolve

    files, pins = _common.pinned(args)
    spec = resolve(args.suite, args.defense, args.attack, args.profile, args.seed, _common.parse_sets(args.set),
                   control=args.control, weights=pins)
    options = _common.run_options(args, weights=files)
    console.print(f"[bold]mibench run[/] suite={spec.suite} defense={spec.defense} attack={spec.attack}"
                  f"{' (control)' if spec.control else ''} profile={spec.profile} seed={spec.seed} config={spec.config_hash}")
    pipeline = Pipeline(spec, options)
    pipeline.preflight()
    record = pipeline.run()
    _print_metrics(record)
    if options.write_leaderboard:
        console.print(f"leaderboard: {pipeline.leaderboard_dir() / (board_name(spec.suite, spec.profile) + '.csv')}")
    return 0


def _print_metrics(record) -> None:
    spec = record.spec
    table = Table(title=f"{spec['defense']} x {spec['attack']}{' (control)' if record.control else ''} on "
                        f"{spec['suite']} ({spec['profile']}, seed {spec['seed']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = {"natural_acc": record.natural_acc, "evaluator_acc": record.evaluator_acc,
            "evaluator_acc_private": record.evaluator_acc_private, "attack_queries": record.attack_queries,
            **record.metrics}
    for k, v in rows.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    for stage, seconds in record.timings.items():
        table.add_row(f"time: {stage}", f"{seconds:.1f} s")
    console.print(table)
    console.print(f"run folder: {record.run_folder}")
