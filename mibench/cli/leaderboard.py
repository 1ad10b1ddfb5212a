"""``mibench leaderboard show|build|check|tolerances|site|rejudge|agreement|costs|claims``: a board's
views, its CSV rebuilt from its records, its regression check and tolerances, the static site, its
rows rejudged from their stored reconstructions, two judges' agreement, its cost, and its
components' claims re-tested. Each action is a subcommand with its own flags."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, LeaderboardError
from ..progress import console, stdout
from . import _common

DEFAULT_BOARDS = Path("leaderboards")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("leaderboard", help="show, rebuild or check a leaderboard, derive its tolerances from its "
                                                "records, or rejudge its rows from their stored reconstructions")
    actions = parser.add_subparsers(dest="action", required=True, metavar="show|build|check|tolerances|site|rejudge|agreement|costs|claims")
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument("--dir", default=str(DEFAULT_BOARDS), help="leaderboard folder (default: ./leaderboards)")
    board = [folder, _common.board()]
    rows = argparse.ArgumentParser(add_help=False)
    rows.add_argument("--rows", default="", help="only these rows (0-based positions, comma-separated)")

    show_p = actions.add_parser("show", parents=board, help="print the board, its pivot or its per-class view")
    show_p.add_argument("--markdown", action="store_true", help="print a Markdown table on standard output")
    show_p.add_argument("--defenses", default="", metavar="NAME[,NAME]", help="only these defenses (comma-separated)")
    show_p.add_argument("--attacks", default="", metavar="NAME[,NAME]",
                        help="only these attacks (comma-separated; with --pivot, the worst case is over these)")
    show_p.add_argument("--pivot", nargs="?", const="", default=None, metavar="METRIC",
                        help="the defense x attack view of METRIC (default: the board's primary metric) and the "
                             "defenses ranked with ties by their worst case over attacks")
    show_p.add_argument("--per-class", nargs="?", const="", default=None, metavar="METRIC",
                        help="each row's METRIC (default: the board's primary metric) by attacked class, from its "
                             "records")
    _common.add_old_spellings(show_p, "leaderboard show")
    show_p.set_defaults(func=show)

    build_p = actions.add_parser("build", parents=board, help="rebuild the board's CSV from its records")
    build_p.add_argument("--overwrite-edited-board", action="store_true",
                         help="rebuild the CSV from its records even where that loses hand-edited cells or foreign "
                              "columns")
    build_p.set_defaults(func=build)

    check_p = actions.add_parser("check", parents=[*board, rows, _common.runtime()],
                                 help="compare the CSV with its records and recompute its rows (exit status 1 on "
                                      "drift)")
    check_p.add_argument("--keep", default="", help="write the recomputed run folders here (default: discarded)")
    check_p.add_argument("--explain", action="store_true",
                         help="recompute nothing; print how each row would be checked and the smallest change of "
                              "each metric its statistical tolerance detects")
    check_p.set_defaults(func=check)

    tol_p = actions.add_parser("tolerances", parents=board, help="derive the board's tolerances from its records")
    tol_p.add_argument("--perturbed", default="",
                       help="also widen to twice the deviations of the records under this folder (a `check --keep` "
                            "run in another float environment)")
    tol_p.set_defaults(func=tolerances)

    site_p = actions.add_parser("site", parents=[folder], help="write every board of --dir as a static site")
    site_p.add_argument("--out", required=True, help="the folder to write the static site into")
    site_p.set_defaults(func=site)

    rejudge_p = actions.add_parser("rejudge", parents=[*board, rows, _common.runtime()],
                                   help="recompute the rows' metrics from their stored reconstructions")
    rejudge_p.add_argument("--evaluators", default="",
                           help="only these evaluators (comma-separated; default: all the suite's); the others' "
                                "numbers are kept")
    rejudge_p.add_argument("--overwrite-edited-board", action="store_true",
                           help="rebuild the CSV from the records even where it was edited by hand")
    rejudge_p.add_argument("--dry-run", action="store_true",
                           help="report what would change and write nothing (exit status 1 when something would)")
    rejudge_p.set_defaults(func=rejudge)

    agree_p = actions.add_parser("agreement", parents=[*board, rows, _common.runtime()],
                                 help="compare two evaluators' verdicts on the stored reconstructions: how many of the "
                                      "first's successes the second rejects, per row and per attack")
    agree_p.add_argument("--evaluators", default="accuracy-v2,accuracy", metavar="FIRST,SECOND",
                         help="two evaluators with a yes/no test (default: accuracy-v2,accuracy: judge v2's "
                              "successes that the suite's judge rejects)")
    agree_p.add_argument("--markdown", action="store_true", help="print Markdown tables on standard output")
    agree_p.set_defaults(func=agreement)

    costs_p = actions.add_parser("costs", parents=board,
                                 help="what the board cost: each attack's runs, summed and mean seconds, and the mean "
                                      "of every stage its records timed")
    costs_p.add_argument("--markdown", action="store_true", help="print a Markdown table on standard output")
    costs_p.set_defaults(func=costs)

    claims_p = actions.add_parser("claims", parents=board,
                                  help="re-test the claims the board's defenses and attacks declare (their papers'): "
                                       "each as contrasts between cells, with the 95 %% interval of the difference "
                                       "and a verdict")
    claims_p.add_argument("--metric", default="", help="the metric compared (default: the board's primary metric)")
    claims_p.add_argument("--markdown", action="store_true", help="print Markdown tables on standard output")
    claims_p.set_defaults(func=claims)


def _board(args: argparse.Namespace) -> str:
    """The board name, after checking that the suite and profile exist (listing what does)."""
    from .. import leaderboard as lb
    from ..registries import SUITES

    SUITES.get(args.suite)().profile(args.profile)
    return lb.board_name(args.suite, args.profile)


def site(args: argparse.Namespace) -> int:
    from ..site import build_site

    folder = Path(args.dir)
    boards = sorted(p.stem for p in folder.glob("*.csv"))
    if not boards:
        raise LeaderboardError(f"no boards (*.csv) in {folder}; pass --dir with the leaderboard folder")
    console.print(f"wrote {build_site(folder, boards, Path(args.out))} ({', '.join(boards)})")
    return 0


def build(args: argparse.Namespace) -> int:
    from .. import leaderboard as lb

    folder, board = Path(args.dir), _board(args)
    lb.check_board_file(folder, board, args.overwrite_edited_board)
    console.print(f"wrote {lb.build(folder, board)}")
    return 0


def tolerances(args: argparse.Namespace) -> int:
    from .. import regression

    folder, board = Path(args.dir), _board(args)
    derived = regression.write_tolerances(folder, board, Path(args.perturbed) if args.perturbed else None)
    console.print(f"wrote {folder / 'tolerances.json'} [{board}]: " + json.dumps(derived))
    return 0


def show(args: argparse.Namespace) -> int:
    from .. import leaderboard as lb
    from ..board.intervals import METHOD
    from ..board.provenance import protocol
    from ..board.schema import present

    folder, board = Path(args.dir), _board(args)
    frame, schema = lb.load(folder, board)
    frame = _kept(frame, args)  # with --pivot, the worst case is over the attacks kept
    if args.pivot is not None:
        return _show_pivot(frame, schema, schema.metric(args.pivot or None).name, board, args.markdown)
    if args.per_class is not None:
        return _show_per_class(folder, board, args.per_class or schema.metric().name, args)
    title = f"leaderboard {board} ({protocol(r for _, r in lb.read_records(folder, board))})"
    return _print_rows(frame, present(frame, schema.shown()), title, args.markdown, caption=METHOD)


def _kept(frame, args: argparse.Namespace):
    """The rows of the defenses and attacks ``--defenses`` and ``--attacks`` name (all when empty)."""
    for column in ("defense", "attack"):
        wanted = getattr(args, column + "s")
        if wanted:
            frame = frame[frame[column].isin(wanted.split(","))]
    return frame


def _print_rows(frame, columns: list[str], title: str, markdown: bool, caption: str = "") -> int:
    """``frame``'s ``columns`` on standard output: a Markdown table (``caption`` below it) or a rich
    one titled ``title``."""
    from ..board import cell
    from ..board import markdown as md

    if markdown:
        stdout.print(md(frame, columns) + (f"\n\n{caption}." if caption else ""), markup=False, highlight=False,
                     soft_wrap=True)
        return 0
    table = Table(title=title, caption=escape(caption) or None)
    for col in columns:
        table.add_column(col)
    for _, row in frame.iterrows():
        table.add_row(*[escape(cell(row, c)) for c in columns])
    stdout.print(table)
    return 0


def _show_per_class(folder: Path, board: str, metric: str, args: argparse.Namespace) -> int:
    """Each configuration's ``metric`` by attacked class (mean over seeds), from its records."""
    from .. import leaderboard as lb
    from ..board import per_class

    frame = _kept(per_class(lb.read_records(folder, board), metric), args)
    if frame.empty:
        raise LeaderboardError(f"no record of {board} in {folder} breaks {metric} down by class: records "
                               f"written before per-class numbers were stored have none; rerun the rows to get them")
    return _print_rows(frame, [c for c in frame.columns if c != "config_hash"],
                       f"{board}: {metric} by attacked class (mean over seeds)", args.markdown)


def _show_pivot(frame, schema, metric: str, board: str, markdown: bool) -> int:
    """The defense x attack view of ``metric`` (cells that do not beat the floor marked) and the
    defenses ranked with ties by their worst case over attacks."""
    from ..board import pivot, visible, worst_case
    from ..board.intervals import METHOD
    from ..board.views import TIE_NOTE, WORST_CASE_NOTE, floor, floor_note

    m = schema.metric(metric)
    grid, ranked = pivot(frame, schema, metric), worst_case(frame, schema, metric)
    found = floor(frame, m)
    grid_notes = "; ".join([METHOD, *([floor_note(m, found)] if found else [])])
    side = f"{m.private_side}: more private"
    _print_rows(grid.reset_index(), ["defense", *grid.columns],
                f"{board}: {metric}, defense x attack (default strengths)", markdown, grid_notes)
    if markdown:
        stdout.print("")
    return _print_rows(ranked, visible(list(ranked.columns)),
                       f"{board}: defenses ranked by their worst case over attacks ({side})", markdown,
                       f"{TIE_NOTE}; {WORST_CASE_NOTE}")


def rejudge(args: argparse.Namespace) -> int:
    """Recompute the board's metrics from its stored reconstructions; print what changed."""
    from ..rejudge import rejudge_board

    folder, board = Path(args.dir), _board(args)

    def show(result) -> None:
        changes = result.changes()
        if not changes:
            stdout.print(f"{result.path}: identical", markup=False, highlight=False)
            return
        table = Table(title=result.path)
        for col in ("metric", "stored", "rejudged", "difference"):
            table.add_column(col)
        for metric, old, new in changes:
            numbers = isinstance(old, (int, float)) and isinstance(new, (int, float))
            relative = f" ({(new - old) / abs(old):+.2%})" if numbers and old else ""
            table.add_row(metric, str(old), str(new), f"{new - old:+.4g}{relative}" if numbers else "")
        stdout.print(table)

    rows = [int(r) for r in args.rows.split(",")] if args.rows else None
    evaluators = [e for e in args.evaluators.split(",") if e] or None
    results = rejudge_board(folder, board, _common.run_options(args, out=Path(".")), evaluators, rows, args.dry_run,
                            on_record=show)
    changed = sum(bool(r.changes()) for r in results)
    verb = "would change" if args.dry_run else "changed"
    console.print(f"rejudged {len(results)} record(s) of {board}: {changed} {verb}, {len(results) - changed} identical"
                  + ("" if args.dry_run else f"; wrote {folder / (board + '.csv')}"))
    return 1 if args.dry_run and changed else 0


def check(args: argparse.Namespace) -> int:
    """Compare the CSV with what its records build, then re-run the board's rows with their recorded
    configs and check each exactly (same float environment, stage checksums recorded) or within its
    own statistical tolerances (mibench/regression.py). Targets train from their recipe, also those
    the suite ships. A check that must catch a change to a defense or prior runs on an empty
    --cache-dir: a warm cache serves the artifacts it holds."""
    from .. import leaderboard as lb
    from .. import regression
    from ..board.diff import summary
    from ..runner import run

    folder, board = Path(args.dir), _board(args)
    lb.load(folder, board)  # a missing or malformed board fails here, before any work
    if args.explain:
        return _explain(folder, board, args)
    edits = lb.compare_csv(folder, board).lines()
    if edits:
        console.print(f"[red]{folder / (board + '.csv')} differs from what its records build:[/]"
                      f"{escape(summary(edits))}\n(rebuild it with `mibench leaderboard build "
                      f"{lb.OVERWRITE_FLAG}` once the records hold what it should say)")

    def rerun(spec, out: Path):
        console.print(f"[bold]check[/] {spec.defense} x {spec.attack}{' (control)' if spec.control else ''} "
                      f"seed {spec.seed} ({spec.config_hash})")
        return run(spec, _common.run_options(args, out=out, write_leaderboard=False, retrain_targets=True,
                                             weights=_common.parse_weights(args.weights)))

    def show(result) -> None:
        mode = "exact" if result.exact else f"statistical ({result.reason})"
        table = Table(title=escape(f"{result.label}: {mode}"))
        for col in ("metric", "committed", "recomputed", "tolerance = smallest change detected", "ok"):
            table.add_column(col)
        for r in result.comparisons:
            table.add_row(r["metric"], f"{r['expected']:.6g}", f"{r['actual']:.6g}",
                          "exact" if result.exact else escape(f"{r['tolerance']:.3g} ({r['rule']})"),
                          "[green]ok" if r["ok"] else "[red]DRIFT")
        stdout.print(table)
        if result.stage:
            stdout.print(f"FIRST DIFFERING STAGE: {result.stage}, produced by {result.owner}", markup=False,
                         highlight=False)

    rows = [int(r) for r in args.rows.split(",")] if args.rows else None
    results = regression.check_board(folder, board, rerun, rows, on_row=show,
                                     keep=Path(args.keep) if args.keep else None)
    failed = [r for r in results if not r.ok]
    if failed or edits:
        console.print(f"[red]leaderboard check failed: {len(failed)} row(s) differ"
                      + (f"; the CSV differs from its records in {len(edits)} place(s)" if edits else ""))
        return 1
    exact = sum(r.exact for r in results)
    console.print(f"[green]leaderboard {board}: the CSV is what its records build; {exact} row(s) reproduced exactly, "
                  f"{len(results) - exact} within their statistical tolerance")
    return 0


def _explain(folder: Path, board: str, args: argparse.Namespace) -> int:
    """``check --explain``: each row's mode and, per metric, the smallest change of its mean the
    statistical check detects (its tolerance), without recomputing anything."""
    from .. import regression

    rows = [int(r) for r in args.rows.split(",")] if args.rows else None
    for label, mode, tolerances in regression.explain(folder, board, rows):
        table = Table(title=escape(f"{label}: {mode}"))
        for col in ("metric", "smallest change detected (statistical)", "rule"):
            table.add_column(col)
        for metric, tol in tolerances.items():
            table.add_row(metric, f"{tol.allowed:.3g}", escape(tol.rule))
        stdout.print(table)
    return 0


def agreement(args: argparse.Namespace) -> int:
    """Per row and per attack: the first evaluator's successes and how many the second rejects."""
    from .. import leaderboard as lb
    from ..board.agreement import agreement as compare, by_attack
    from ..board.schema import LABEL, present
    from ..board.views import default_rows

    names = [n.strip() for n in args.evaluators.split(",") if n.strip()]
    if len(names) != 2:
        raise ConfigError(f"--evaluators {args.evaluators!r}: give two evaluators, FIRST,SECOND")
    folder, board = Path(args.dir), _board(args)
    committed = lb.load(folder, board)[0]  # a missing or malformed board fails here, before any work
    rows = [int(r) for r in args.rows.split(",")] if args.rows else None
    frame = compare(folder, board, *names, _common.run_options(args, out=Path(".")), rows)
    first, second = names
    caption = f"of the reconstructions {first} counts as successes, those {second} rejects"
    columns = present(frame, [*LABEL, "n_seeds", "reconstructions", "first_successes", "rejected_by_second",
                              "rejected_share"])
    _print_rows(frame, columns, f"{board}: {first} vs {second}, per row", args.markdown, caption)
    if args.markdown:
        stdout.print("")
    per_attack = by_attack(frame, default_rows(committed))
    return _print_rows(per_attack, list(per_attack.columns), f"{board}: {first} vs {second}, per attack (default "
                       f"strengths)", args.markdown, caption + "; rows at the defenses' default strengths")


def costs(args: argparse.Namespace) -> int:
    """Per attack: runs, summed and mean ``timings.total`` and each stage's mean, from the records."""
    from .. import leaderboard as lb
    from ..board.costs import costs as table, read_tasks
    from ..sweep import task_costs_path

    folder, board = Path(args.dir), _board(args)
    lb.load(folder, board)
    frame = table(lb.read_records(folder, board), read_tasks(task_costs_path(folder, board)))
    return _print_rows(frame.astype(object).where(frame.notna(), ""), list(frame.columns),
                       f"{board}: cost per attack (records' timings)",
                       args.markdown, "seconds of wall time per run; total_h sums the runs' totals; a stage reused "
                                      "from the cache costs almost nothing; targets and priors a sweep built in its "
                                      "own tasks are the rows '(sweep task)', from its log costs/<board>.jsonl")


def claims(args: argparse.Namespace) -> int:
    """Per claim: its contrasts' verdicts counted, then every contrast with its interval."""
    from .. import leaderboard as lb
    from ..board.claims import METHOD, SHOWN, retest, shown, summary

    folder, board = Path(args.dir), _board(args)
    frame, schema = lb.load(folder, board)
    metric = schema.metric(args.metric or None).name
    table = retest(frame, lb.read_records(folder, board), schema, metric)
    if table.empty:
        raise LeaderboardError(f"no claim of the components on {board} can be tested there: it needs a claimed row "
                               f"and the row it is compared with (a defense's with none's under the same attack, an "
                               f"attack's with the other attack's against the same defense)")
    _print_rows(summary(table), ["claim", "by", "contrasts", "holds", "other way", "cannot tell"],
                f"{board}: the components' claims on {metric}", args.markdown, f"verdicts counted; {METHOD}")
    if args.markdown:
        stdout.print("")
    return _print_rows(shown(table), SHOWN, f"{board}: every contrast ({metric})", args.markdown, METHOD)
