"""The ``mibench`` command line (argparse + rich).

    mibench run --defense NAME --attack NAME [--suite mnist] [--seed N] [--device auto|cpu|cuda]
                [--profile quick|full] [--out DIR] [--control] [--set defense.rank=8 ...]
    mibench ls [suites|defenses|attacks|priors|evaluators|models]
    mibench sweep [--suite S] [--profile P] [--defenses all|NAMES] [--attacks all|NAMES] [--seeds 0,1,2]
                  [--address auto|ray://HOST:PORT] [--workers N] [--dry-run]
    mibench frontier --attack NAME [--defense NAME ...] [--suite S] [--profile P] [--seeds N] [--ladder D.P=V1,V2]
    mibench evaluator export --suite S --out DIR
    mibench leaderboard show|build|check|tolerances|site [--suite S] [--profile P] [--dir DIR] [--pivot | --per-class [METRIC]]
                [--rows 0,2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import ConfigError, LeaderboardError, MibenchError
from .progress import console, stdout

DEFAULT_BOARDS = Path("leaderboards")


def _parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set defense.rank=8 --set evaluator.fid.subset=successful`` -> grouped overrides."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        group, dot, param = key.rpartition(".")
        if not sep or not dot or not group:
            raise ConfigError(f"--set {item!r}: expected GROUP.PARAM=VALUE, e.g. defense.rank=8, attack.top_n=100 "
                              f"or prior.gmi-wgan.width=32")
        groups.setdefault(group, {})[param] = value
    return groups


def _suite_sets(args: argparse.Namespace) -> dict[str, Any]:
    """``--set suite.PARAM=VALUE`` of a command that runs many rows: the suite's parameters only."""
    groups = _parse_sets(args.set)
    other = sorted(set(groups) - {"suite"})
    if other:
        raise ConfigError(f"mibench {args.command} takes --set suite.PARAM=VALUE only (got {', '.join(other)}): its "
                          f"rows have different components; set a component's parameters with mibench run --set")
    return groups.get("suite", {})


def _weights(items: Sequence[str]) -> dict[str, Path]:
    """``--weights target=FILE --weights evaluator=FILE`` -> {role: path}."""
    out = {}
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not role or not path:
            raise ConfigError(f"--weights {item!r}: expected ROLE=FILE, e.g. target=IR152_91.16.tar or "
                              f"evaluator=FaceNet_95.88.tar")
        out[role] = Path(path).expanduser()
    return out


def _pinned(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, str]]:
    """``--weights`` as (role -> file, role -> SHA-256): the files for the options, the pins for the specs."""
    from .runner import read_sha256

    files = _weights(args.weights)
    return files, {role: read_sha256(path) for role, path in files.items()}


def _options(args: argparse.Namespace, **overrides):
    """The run options the common arguments give (``overrides`` win)."""
    from .runner import RunOptions

    values = dict(device=args.device, precision=args.precision, cache_root=args.cache_dir, data_root=args.data_root,
                  assets_dirs=tuple(args.assets_dir), leaderboard_dir=getattr(args, "leaderboard_dir", None))
    if "out" not in overrides:
        values["out"] = Path(args.out)
    return RunOptions(**{**values, **overrides})


def cmd_run(args: argparse.Namespace) -> int:
    from .leaderboard import board_name
    from .runner import Pipeline
    from .spec import resolve

    files, pins = _pinned(args)
    spec = resolve(args.suite, args.defense, args.attack, args.profile, args.seed, _parse_sets(args.set),
                   control=args.control, weights=pins)
    options = _options(args, weights=files)
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


def cmd_frontier(args: argparse.Namespace) -> int:
    from .frontier import parse_ladders, pending, plan, plot, run_frontier
    from .leaderboard import board_name, read_board
    from .runner import Pipeline, run

    files, pins = _pinned(args)
    points = plan(args.suite, args.profile, args.attack, args.defense or None, args.seeds, parse_ladders(args.ladder),
                  weights=pins, suite_params=_suite_sets(args))
    options = _options(args, weights=files)
    pipeline = Pipeline(points[0].spec, options)
    board_dir = pipeline.leaderboard_dir()
    todo = pending(points, board_dir)
    console.print(f"[bold]mibench frontier[/] {args.suite}/{args.profile} x {args.attack}: {len(points)} runs, "
                  f"{len(points) - len(todo)} already on the board, {len(todo)} to run")
    for point in todo if args.dry_run else []:
        stdout.print(f"{point.defense} {point.overrides or '(default)'} seed {point.spec.seed} "
                     f"config {point.spec.config_hash}", markup=False, highlight=False)
    if args.dry_run:
        return 0
    if not args.draw_only:
        pipeline.preflight()
        run_frontier(points, board_dir, lambda spec: run(spec, options))
    board = board_name(args.suite, args.profile)
    path = plot(read_board(board_dir / f"{board}.csv"), args.attack, board_dir / f"{board}-frontier.png",
                f"{board}: privacy-utility frontier against {args.attack}")
    console.print(f"frontier: {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .runner import Pipeline
    from .sweep import jobs, label, pending, plan, run_sweep

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    files, pins = _pinned(args)
    specs = plan(args.suite, args.profile, args.defenses, args.attacks, seeds, controls=not args.no_controls,
                 weights=pins, suite_params=_suite_sets(args))
    options = _options(args, weights=files)
    pipeline = Pipeline(specs[0], options)
    todo = pending(specs, pipeline.leaderboard_dir())
    prepare, _ = jobs(todo)
    console.print(f"[bold]mibench sweep[/] {args.suite}/{args.profile}: {len(specs)} rows, {len(specs) - len(todo)} "
                  f"already on the board, {len(todo)} to run after {len(prepare)} prepare tasks")
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


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench, write_json
    from .runner import resolve_device

    device = resolve_device(args.device)
    result = run_bench(args.suite, device, args.profile, args.seconds, args.inversion_batch, args.precision)
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


def cmd_evaluator(args: argparse.Namespace) -> int:
    from .export import export_judge

    path, description = export_judge(args.suite, args.out, device=args.device, cache_root=args.cache_dir,
                                     data_root=args.data_root)
    console.print(f"wrote {path} (SHA-256 {description['sha256']}; accuracy {description['accuracy']:.4f} on all "
                  f"{description['config']['classes']} classes, {description['accuracy_private']:.4f} on private_test)")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .registries import REGISTRIES

    kinds = [args.kind] if args.kind else ["suites", "defenses", "attacks", "priors", "evaluators", "models"]
    for kind in kinds:
        registry = REGISTRIES[kind]
        table = Table(title=kind)
        for col in ("name", "version", "origin", {"attacks": "access / paper", "priors": "scope / paper"}.get(kind, "paper")):
            table.add_column(col)
        for entry in registry.entries():
            try:
                cls = registry.get(entry.name)
                detail = {"attacks": lambda: f"{cls.access.value} / {cls.paper}",
                          "priors": lambda: f"{cls.scope} / {cls.paper}"}.get(kind, lambda: cls.paper)()
                table.add_row(entry.name, cls.version, entry.origin, detail)
            except MibenchError as exc:  # a broken plugin is listed, not fatal
                table.add_row(entry.name, "?", entry.origin, f"[red]fails to load: {exc}")
        stdout.print(table)
    return 0


SHOWN = ["defense", "strength", "attack", "control", "n_seeds", "natural_acc", "attack_acc_top1", "attack_acc_top5", "knn_dist",
         "fid", "attack_queries", "fid_backbone"]


def _board(args: argparse.Namespace) -> str:
    """The board name, after checking that the suite and profile exist (listing what does)."""
    from . import leaderboard as lb
    from .registries import SUITES

    SUITES.get(args.suite)().profile(args.profile)
    return lb.board_name(args.suite, args.profile)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from . import leaderboard as lb
    from . import regression

    folder = Path(args.dir)
    if args.action == "site":
        from .site import build_site

        boards = sorted(p.stem for p in folder.glob("*.csv"))
        if not boards:
            raise LeaderboardError(f"no boards (*.csv) in {folder}; pass --dir with the leaderboard folder")
        if not args.out:
            raise ConfigError("leaderboard site needs --out DIR, the folder to write the site into")
        console.print(f"wrote {build_site(folder, boards, Path(args.out))} ({', '.join(boards)})")
        return 0
    board = _board(args)
    if args.action == "build":
        console.print(f"wrote {lb.build(folder, board)}")
        return 0
    if args.action == "tolerances":
        derived = regression.write_tolerances(folder, board, Path(args.perturbed) if args.perturbed else None)
        console.print(f"wrote {folder / 'tolerances.json'} [{board}]: " + json.dumps(derived))
        return 0
    frame = lb.read_board(folder / f"{board}.csv")
    if args.action == "show":
        frame = _kept(frame, args)  # with --pivot, the worst case is over the attacks kept
        if args.pivot:
            return _show_pivot(frame, board, args.markdown)
        if args.per_class:
            return _show_per_class(folder, board, args)
        return _print_rows(frame, [c for c in SHOWN if c in frame.columns], f"leaderboard {board}", args.markdown)
    return _check(folder, board, args)


def _kept(frame, args: argparse.Namespace):
    """The rows of the defenses and attacks ``--defense`` and ``--attack`` name (all when empty)."""
    for column in ("defense", "attack"):
        wanted = getattr(args, column)
        if wanted:
            frame = frame[frame[column].isin(wanted.split(","))]
    return frame


def _print_rows(frame, columns: list[str], title: str, markdown: bool) -> int:
    """``frame``'s ``columns`` on standard output: a Markdown table or a rich one titled ``title``."""
    from . import leaderboard as lb

    if markdown:
        stdout.print(lb.markdown(frame, columns), markup=False, highlight=False, soft_wrap=True)
        return 0
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for _, row in frame.iterrows():
        table.add_row(*[lb.cell(row, c) for c in columns])
    stdout.print(table)
    return 0


def _show_per_class(folder: Path, board: str, args: argparse.Namespace) -> int:
    """Each configuration's ``--per-class`` metric by attacked class (mean over seeds), from its records."""
    from . import leaderboard as lb

    frame = _kept(lb.per_class(lb.read_records(folder, board), args.per_class), args)
    if frame.empty:
        raise LeaderboardError(f"no record of {board} in {folder} breaks {args.per_class} down by class: records "
                               f"written before per-class numbers were stored have none; rerun the rows to get them")
    return _print_rows(frame, [c for c in frame.columns if c != "config_hash"],
                       f"{board}: {args.per_class} by attacked class (mean over seeds)", args.markdown)


def _show_pivot(frame, board: str, markdown: bool) -> int:
    """The defense x attack view and the per-defense worst case over attacks."""
    from . import leaderboard as lb

    grid, ranked = lb.pivot(frame), lb.worst_case(frame)
    ranked_cols = [c for c in ranked.columns if not c.endswith("_sd")]
    if markdown:
        grid_md = lb.markdown(grid.reset_index(), ["defense", *grid.columns])
        stdout.print(grid_md + "\n\n" + lb.markdown(ranked, ranked_cols) + "\n\n" + lb.WORST_CASE_NOTE + ".",
                     markup=False, highlight=False, soft_wrap=True)
        return 0
    table = Table(title=f"{board}: attack top-1 accuracy, defense x attack (default strengths)")
    for col in ["defense", *grid.columns]:
        table.add_column(col)
    for defense, row in grid.iterrows():
        table.add_row(defense, *row.tolist())
    stdout.print(table)
    table = Table(title=f"{board}: defenses ranked by their worst case over attacks (lower: more private)",
                  caption=lb.WORST_CASE_NOTE)
    for col in ranked_cols:
        table.add_column(col)
    for _, row in ranked.iterrows():
        table.add_row(*[lb.cell(row, c) for c in ranked_cols])
    stdout.print(table)
    return 0


def _check(folder: Path, board: str, args: argparse.Namespace) -> int:
    """Re-run the board's rows with their recorded configs (cold) and compare within tolerances."""
    from . import regression
    from .runner import run

    def rerun(spec, out: Path):
        console.print(f"[bold]check[/] {spec.defense} x {spec.attack}{' (control)' if spec.control else ''} "
                      f"seed {spec.seed} ({spec.config_hash})")
        return run(spec, _options(args, out=out, write_leaderboard=False, weights=_weights(args.weights)))

    def show(result) -> None:
        table = Table(title=result.label)
        for col in ("metric", "committed", "recomputed", "tolerance", "ok"):
            table.add_column(col)
        for r in result.comparisons:
            table.add_row(r["metric"], f"{r['expected']:.4g}", f"{r['actual']:.4g}", f"{r['tolerance']:.3g}",
                          "[green]ok" if r["ok"] else "[red]DRIFT")
        stdout.print(table)

    rows = [int(r) for r in args.rows.split(",")] if args.rows else None
    results = regression.check_board(folder, board, rerun, rows, on_row=show,
                                     keep=Path(args.keep) if args.keep else None)
    failures = sum(not c["ok"] for r in results for c in r.comparisons)
    if failures:
        console.print(f"[red]leaderboard check failed: {failures} metric(s) outside their tolerance")
        return 1
    console.print(f"[green]leaderboard {board}: all {len(results)} row(s) within tolerance")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mibench", description="Benchmark model-inversion attacks and defenses.")
    parser.add_argument("--version", action="version", version=f"mibench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log cache hits and stages")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    common.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="fp32: deterministic (default); bf16: autocast, cuDNN autotuning and TF32 for GPU speed, "
                             "not bit-reproducible")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="artifact cache (default: $MIBENCH_CACHE or ~/.cache/mibench)")
    common.add_argument("--data-root", type=Path, default=None, help="folder with the suite's data files")
    common.add_argument("--assets-dir", type=Path, action="append", default=[],
                        help="folder searched first for weights files (then $MIBENCH_ASSETS, the package, the torch hub cache)")
    common.add_argument("--weights", action="append", default=[], metavar="ROLE=FILE",
                        help="import a published classifier file: target=FILE (only with the none defense) or evaluator=FILE "
                             "(KED-MI / PLG-MI .tar, MIBench .pth, or a state dict; loaded with weights_only=True)")

    run_p = sub.add_parser("run", parents=[common], help="train, attack, evaluate; write a record and a leaderboard row")
    run_p.add_argument("--defense", required=True)
    run_p.add_argument("--attack", required=True)
    run_p.add_argument("--suite", default="mnist")
    run_p.add_argument("--profile", default="full", help="full (the suite's protocol) or quick (smoke test)")
    run_p.add_argument("--seed", type=int, default=0, help="attack seed (targets and evaluator use the suite's)")
    run_p.add_argument("--control", action="store_true",
                       help="the control row: the attack with its target guidance off (the suite's chance level)")
    run_p.add_argument("--out", default="mibench-runs", help="folder for run folders (default: ./mibench-runs)")
    run_p.add_argument("--leaderboard-dir", type=Path, default=None,
                       help="leaderboard folder to add the row to (default: OUT/leaderboards)")
    run_p.add_argument("--set", action="append", default=[], metavar="GROUP.PARAM=VALUE",
                       help="override a parameter: defense.rank=8, attack.inversion_steps=100, evaluator.fid.subset=successful")
    run_p.set_defaults(func=cmd_run)

    fr_p = sub.add_parser("frontier", parents=[common],
                          help="run every defense along its strength ladder against an attack; draw the frontier")
    fr_p.add_argument("--attack", required=True)
    fr_p.add_argument("--defense", action="append", default=[],
                      help="a defense to include (repeatable; default: every defense with a ladder)")
    fr_p.add_argument("--suite", default="mnist")
    fr_p.add_argument("--profile", default="full")
    fr_p.add_argument("--seeds", type=int, default=3, help="run seeds per ladder point (default 3)")
    fr_p.add_argument("--ladder", action="append", default=[], metavar="DEFENSE.PARAM=V1,V2",
                      help="replace a defense's ladder: mid.beta=0.01,0.1 (fields of one defense are zipped)")
    fr_p.add_argument("--out", default="mibench-runs", help="folder for run folders (default: ./mibench-runs)")
    fr_p.add_argument("--leaderboard-dir", type=Path, default=None,
                      help="leaderboard folder (default: OUT/leaderboards); the PNG is written beside the CSV")
    fr_p.add_argument("--set", action="append", default=[], metavar="suite.PARAM=VALUE",
                      help="a suite parameter for every row: suite.target=vgg16, suite.public=ffhq")
    fr_p.add_argument("--dry-run", action="store_true", help="list the runs still to do and stop")
    fr_p.add_argument("--draw-only", action="store_true",
                      help="run nothing: draw the figure from the rows already on the board")
    fr_p.set_defaults(func=cmd_frontier)

    sw_p = sub.add_parser("sweep", parents=[common], help="run the defense x attack x seed grid on Ray")
    sw_p.add_argument("--suite", default="mnist")
    sw_p.add_argument("--profile", default="full")
    sw_p.add_argument("--defenses", default="all", help="all, or comma-separated names (default: all)")
    sw_p.add_argument("--attacks", default="all", help="all, or comma-separated names (default: all)")
    sw_p.add_argument("--seeds", default="0,1,2", help="comma-separated run seeds (default: 0,1,2)")
    sw_p.add_argument("--no-controls", action="store_true", help="leave out the attacks' control rows")
    sw_p.add_argument("--address", default=None,
                      help="Ray cluster: auto, ray://HOST:PORT or HOST:PORT (default: a local instance)")
    sw_p.add_argument("--workers", type=int, default=None,
                      help="CPUs of the local instance = tasks at once (default: all; 1: sequential)")
    sw_p.add_argument("--out", default="mibench-runs", help="folder for run folders (default: ./mibench-runs)")
    sw_p.add_argument("--leaderboard-dir", type=Path, default=None,
                      help="board folder (default: <out>/leaderboards; the repository's is ./leaderboards)")
    sw_p.add_argument("--set", action="append", default=[], metavar="suite.PARAM=VALUE",
                      help="a suite parameter for every row: suite.target=vgg16, suite.public=ffhq")
    sw_p.add_argument("--dry-run", action="store_true", help="list the rows still to run and stop")
    sw_p.set_defaults(func=cmd_sweep)

    ev_p = sub.add_parser("evaluator", parents=[common],
                          help="export: train the suite's judge from its recipe and write its weights file")
    ev_p.add_argument("action", choices=["export"])
    ev_p.add_argument("--suite", default="mnist")
    ev_p.add_argument("--out", type=Path, required=True, help="folder for the weights file and its JSON description")
    ev_p.set_defaults(func=cmd_evaluator)

    be_p = sub.add_parser("bench", parents=[common],
                          help="time each hot loop of a suite at its real sizes against the device's matmul peak")
    be_p.add_argument("--suite", default="mnist")
    be_p.add_argument("--profile", default="full", help="the profile whose sizes are measured (default: full)")
    be_p.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per loop (default: 2)")
    be_p.add_argument("--inversion-batch", type=int, default=None,
                      help="cap the inversion batch (default: the whole attack budget at once)")
    be_p.add_argument("--out", default="", help="JSON file (default: bench-<suite>-<device>.json)")
    be_p.set_defaults(func=cmd_bench)

    ls_p = sub.add_parser("ls", help="list registered components and where they come from")
    ls_p.add_argument("kind", nargs="?", choices=["suites", "defenses", "attacks", "priors", "evaluators", "models"])
    ls_p.set_defaults(func=cmd_ls)

    lb_p = sub.add_parser("leaderboard", parents=[common],
                          help="show, rebuild or check a leaderboard, or derive its tolerances from its records")
    lb_p.add_argument("action", choices=["show", "build", "check", "tolerances", "site"])
    lb_p.add_argument("--out", default="", help="site: the folder to write the static site into")
    lb_p.add_argument("--rows", default="", help="check: only these rows (0-based positions, comma-separated)")
    lb_p.add_argument("--keep", default="", help="check: write the recomputed run folders here (default: discarded)")
    lb_p.add_argument("--perturbed", default="",
                      help="tolerances: also widen to twice the deviations of the records under this folder "
                           "(a `check --keep` run in another float environment)")
    lb_p.add_argument("--suite", default="mnist")
    lb_p.add_argument("--profile", default="full")
    lb_p.add_argument("--dir", default=str(DEFAULT_BOARDS), help="leaderboard folder (default: ./leaderboards)")
    lb_p.add_argument("--markdown", action="store_true", help="show: print a Markdown table on standard output")
    lb_p.add_argument("--defense", default="", help="show: only these defenses (comma-separated)")
    lb_p.add_argument("--attack", default="", help="show: only these attacks (comma-separated; with --pivot, the worst case is over these)")
    lb_p.add_argument("--pivot", action="store_true",
                      help="show: the defense x attack view and the defenses ranked by their worst case over attacks")
    lb_p.add_argument("--per-class", nargs="?", const="attack_acc_top1", default="", metavar="METRIC",
                      help="show: each row's METRIC (default attack_acc_top1) by attacked class, from its records")
    lb_p.set_defaults(func=cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except MibenchError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: finished stages are cached; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
