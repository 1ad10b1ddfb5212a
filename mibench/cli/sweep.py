"""``mibench sweep``: the defense x attack x seed grid on Ray."""

from __future__ import annotations

import argparse

from ..progress import console, stdout
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sweep", parents=[_common.runtime(), _common.rows(
        "a suite parameter for every row: suite.target=vgg16, suite.public=ffhq")],
        help="run the defense x attack x seed grid on Ray")
    parser.add_argument("--defenses", default="all", help="all, or comma-separated names (default: all)")
    parser.add_argument("--attacks", default="all", help="all, or comma-separated names (default: all)")
    _common.add_seeds(parser, "sweep", "comma-separated run seeds (default: 0,1,2)")
    parser.add_argument("--no-controls", action="store_true", help="leave out the attacks' control rows")
    parser.add_argument("--address", default=None,
                        help="Ray cluster: auto, ray://HOST:PORT or HOST:PORT (default: a local instance)")
    parser.add_argument("--workers", type=int, default=None,
                        help="CPUs of the local instance = tasks at once (default: all; 1: sequential)")
    parser.add_argument("--dry-run", action="store_true", help="list the rows still to run and stop")
    _common.add_old_spellings(parser, "sweep")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runner import Pipeline
    from ..sweep import jobs, label, pending, plan, run_sweep

    files, pins = _common.pinned(args)
    specs = plan(args.suite, args.profile, args.defenses, args.attacks, args.seeds, controls=not args.no_controls,
                 weights=pins, suite_params=_common.suite_sets(args))
    options = _common.run_options(args, weights=files)
    pipeline = Pipeline(specs[0], options)
    todo = pending(specs, pipeline.leaderboard_dir())
    prepare, _ = jobs(todo)
    console.print(f"[bold]mibench sweep[/] {args.suite}/{args.profile}: {len(specs)} rows, {len(specs) - len(todo)} "
                  f"already on the board, {len(todo)} to run{_common.replacing(todo, pipeline.leaderboard_dir())} "
                  f"after {len(prepare)} prepare tasks")
    if args.dry_run:
        for spec in todo:
            stdout.print(f"{label(spec)} config {spec.config_hash}", markup=False, highlight=False)
        return 0
    if not todo:
        return 0
    pipeline.preflight()
    progress = run_sweep(todo, options, address=args.address, workers=args.workers, console=console)
    counts = progress.counts()
    console.print(f"mibench sweep: {counts['done']} done, {counts['failed']} failed")
    return 1 if counts["failed"] else 0
