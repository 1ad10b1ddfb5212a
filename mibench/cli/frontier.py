"""``mibench frontier``: every defense along its strength ladder against one attack; the figure."""

from __future__ import annotations

import argparse

from ..progress import console, stdout
from . import _common


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("frontier", parents=[_common.runtime(), _common.rows(
        "a suite parameter for every row: suite.target=vgg16, suite.public=ffhq")],
        help="run every defense along its strength ladder against an attack; draw the frontier")
    parser.add_argument("--attack", required=True)
    parser.add_argument("--defenses", default="", metavar="NAME[,NAME]",
                        help="the defenses to include, comma-separated (default: every defense with a ladder)")
    _common.add_seeds(parser, "frontier", "run seeds of every ladder point, comma-separated (default: 0,1,2)")
    parser.add_argument("--ladder", action="append", default=[], metavar="DEFENSE.PARAM=V1,V2",
                        help="replace a defense's ladder: mid.beta=0.01,0.1 (fields of one defense are zipped)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs still to do and stop")
    parser.add_argument("--draw-only", action="store_true",
                        help="run nothing: draw the figure from the rows already on the board")
    _common.add_old_spellings(parser, "frontier")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..frontier import parse_ladders, pending, plan, run_frontier
    from ..frontier_figure import plot
    from ..leaderboard import board_name, load
    from ..runner import Pipeline, run

    files, pins = _common.pinned(args)
    defenses = [d for d in args.defenses.split(",") if d] or None
    points = plan(args.suite, args.profile, args.attack, defenses, args.seeds, parse_ladders(args.ladder),
                  weights=pins, suite_params=_common.suite_sets(args))
    options = _common.run_options(args, weights=files)
    pipeline = Pipeline(points[0].spec, options)
    board_dir = pipeline.leaderboard_dir()
    todo = pending(points, board_dir)
    console.print(f"[bold]mibench frontier[/] {args.suite}/{args.profile} x {args.attack}: {len(points)} runs, "
                  f"{len(points) - len(todo)} already on the board, {len(todo)} to run"
                  f"{_common.replacing([p.spec for p in todo], board_dir)}")
    for point in todo if args.dry_run else []:
        stdout.print(f"{point.defense} {point.overrides or '(default)'} seed {point.spec.seed} "
                     f"config {point.spec.config_hash}", markup=False, highlight=False)
    if args.dry_run:
        return 0
    if not args.draw_only:
        pipeline.preflight()
        run_frontier(points, board_dir, lambda spec: run(spec, options))
    board = board_name(args.suite, args.profile)
    path = plot(*load(board_dir, board), args.attack, board_dir / f"{board}-frontier.png",
                f"{board}: privacy-utility frontier against {args.attack}")
    console.print(f"frontier: {path}")
    return 0
