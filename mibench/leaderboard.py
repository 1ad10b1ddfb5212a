"""Leaderboards: CSV tables generated from run records, never edited by hand (RobustBench style).

A leaderboard folder holds ``records/<board>/<config_hash>-s<seed>.json`` (one :class:`RunRecord`
per result) and ``<board>.csv``, regenerated from all records of the board whenever one is added.
A board is a suite and profile: ``mnist`` (full profile) or ``mnist-quick``.

The CSV has one row per configuration (defense, attack and their parameters, control or not),
aggregating its run seeds: each numeric metric's mean over seeds and, as ``<metric>_sd``, its
standard deviation over seeds (ddof 1), and for every headline metric its 95 % interval as
``<metric>_lo`` and ``<metric>_hi`` (:mod:`mibench.board.intervals`). Columns are the identity
columns, then the metrics the records' evaluators declared, in the order the board's
:class:`~mibench.board.schema.BoardSchema` gives (so a new evaluator's metric appears without
editing this file), then provenance. Volatile provenance (commit, runtime) comes last so CSV
diffs show numbers first. The views of a board (pivot, worst case, per class) are in
:mod:`mibench.board`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from .board.diff import BoardDiff, diff, summary
from .board.intervals import interval
from .board.schema import HI, IDENTITY, LO, SD, UTILITY, BoardSchema
from .cache import atomic_write_bytes, atomic_write_text
from .errors import LeaderboardError
from .records import RunRecord, write_record


def board_name(suite: str, profile: str) -> str:
    return suite if profile == "full" else f"{suite}-{profile}"


def records_dir(folder: Path, board: str) -> Path:
    return Path(folder) / "records" / board


def read_records(folder: Path, board: str) -> list[tuple[str, RunRecord]]:
    """(path relative to ``folder``, record) of every record of ``board``, sorted by file name."""
    folder = Path(folder)
    return [(str(p.relative_to(folder)), RunRecord.read(p)) for p in sorted(records_dir(folder, board).glob("*.json"))]


def finished(folder: Path, board: str) -> set[tuple[str, int]]:
    """(config hash, seed) of every run on the board that the installed components would write: what
    a resumed frontier or sweep skips. A record of another component version (an attack fixed since,
    say) is not finished (:func:`outdated`): the sweep recomputes it and the new record replaces it
    (same file name)."""
    from .board.provenance import version_differences
    return {(r.config_hash, r.spec["seed"]) for _, r in read_records(folder, board) if not version_differences(r)}


def outdated(folder: Path, board: str) -> set[tuple[str, int]]:
    """(config hash, seed) of every run on the board written by another version of one of its
    components than the installed one."""
    from .board.provenance import version_differences
    return {(r.config_hash, r.spec["seed"]) for _, r in read_records(folder, board) if version_differences(r)}


def _params(params: dict[str, Any]) -> str:
    """The parameters as ``k=v;...`` (all of them: a row must say exactly what ran)."""
    return ";".join(f"{k}={v}" for k, v in sorted(params.items()))


def aggregate(records: list[tuple[str, RunRecord]]) -> pd.DataFrame:
    """One row per configuration; numeric metrics as mean and ``_sd`` over run seeds, headline
    metrics also with their 95 % interval (``_lo``, ``_hi``: :mod:`mibench.board.intervals`)."""
    schema = BoardSchema.from_records(records)
    groups: dict[str, list[tuple[str, RunRecord]]] = {}
    for path, rec in records:
        groups.setdefault(rec.config_hash, []).append((path, rec))
    rows = []
    for config_hash, members in groups.items():
        members.sort(key=lambda m: m[1].spec["seed"])
        recs = [r for _, r in members]
        first, spec = recs[0], recs[0].spec
        row: dict[str, Any] = {
            "suite": spec["suite"], "profile": spec["profile"], "defense": spec["defense"],
            "attack": spec["attack"], "control": first.control, "config_hash": config_hash, "strength": first.strength,
            "variant": first.variant,
            "n_seeds": len(recs), "seeds": " ".join(str(r.spec["seed"]) for r in recs),
            UTILITY: _mean([r.natural_acc for r in recs]), "evaluator_acc": _mean([r.evaluator_acc for r in recs]),
        }
        for metric in schema.metrics:
            values = [r.metrics.get(metric.name) for r in recs]
            if not metric.number:
                row[metric.name] = ",".join(sorted({str(v) for v in values if v is not None}))
                continue
            numbers = pd.Series([v for v in values if v is not None], dtype=float)
            row[metric.name] = numbers.mean() if len(numbers) else float("nan")
            row[metric.name + SD] = numbers.std(ddof=1) if len(numbers) > 1 else float("nan")
            if metric.headline:
                row[metric.name + LO], row[metric.name + HI] = interval(recs, metric)
        budget = first.budget
        row.update({
            "target_arch": first.target_arch, "evaluator": first.evaluator_arch,
            "defense_params": _params(spec.get("defense_params", {})),
            "attack_params": _params(spec.get("attack_params", {})),
            "n_classes": len(budget.get("classes", ())), "n_per_class": budget.get("per_class", 0) * budget.get("seeds", 0),
            "budget_seeds": budget.get("seeds", 0), "attack_queries": _mean([r.attack_queries for r in recs]),
            "defense_version": first.components.get("defense", {}).get("version", ""),
            "attack_version": first.components.get("attack", {}).get("version", ""),
            "mibench_version": first.versions.get("mibench", ""), "torch_version": first.versions.get("torch", ""),
            "threads": first.float_env.get("threads", ""), "cpu_capability": first.float_env.get("cpu_capability", ""),
            "device": first.device, "git_commit": ",".join(sorted({r.versions.get("git", "") for r in recs})),
            "runtime_s": round(_mean([r.timings.get("total", float("nan")) for r in recs]), 1),
            "records": " ".join(p for p, _ in members),
        })
        rows.append(row)
    frame = pd.DataFrame(rows, columns=schema.csv_columns())
    return frame.sort_values(["control", "attack", "defense", "config_hash"], kind="stable").reset_index(drop=True)


def _mean(values: list[float]) -> float:
    return float(pd.Series(values, dtype=float).mean())


def read_board(csv_path: Path) -> pd.DataFrame:
    """A leaderboard CSV, checked to be a mibench board (it has the identity columns)."""
    if not csv_path.is_file():
        raise LeaderboardError(f"no leaderboard at {csv_path}; run `mibench run ... --leaderboard-dir {csv_path.parent}`"
                               f"{_existing(csv_path.parent)}")
    frame = pd.read_csv(csv_path)
    for label in ("strength", "variant"):  # empty without a ladder / for a default run (CSV reads it as NaN)
        if label in frame.columns:
            frame[label] = frame[label].astype(object).fillna("")
    missing = [c for c in IDENTITY if c not in frame.columns]
    if missing:
        raise LeaderboardError(
            f"{csv_path} is not a mibench leaderboard (missing the columns {missing}; it has {list(frame.columns)[:8]}). "
            f"Leaderboards are generated from records; move the file aside and rerun `mibench leaderboard build`"
        )
    return frame


def load(folder: Path, board: str) -> tuple[pd.DataFrame, BoardSchema]:
    """``<folder>/<board>.csv`` and the schema its records declare (what every view reads)."""
    return read_board(Path(folder) / f"{board}.csv"), BoardSchema.from_records(read_records(folder, board))


def _existing(folder: Path) -> str:
    boards = sorted(p.stem for p in Path(folder).glob("*.csv")) if Path(folder).is_dir() else []
    return f". Boards in {folder}: {', '.join(boards)}" if boards else ""


OVERWRITE_FLAG = "--overwrite-edited-board"


def check_board_file(folder: Path, board: str, overwrite_edited: bool = False) -> None:
    """Refuse up front, before any work, to write into a CSV that is not a mibench board or, unless
    ``overwrite_edited``, one whose rebuild from its records would lose something (a hand-edited
    cell, a foreign column or row: :meth:`BoardDiff.lost`)."""
    csv_path = Path(folder) / f"{board}.csv"
    if not csv_path.exists():
        return
    read_board(csv_path)
    lost = [] if overwrite_edited else compare_csv(folder, board).lost()
    if lost:
        raise LeaderboardError(
            f"{csv_path} differs from what its records build (edited by hand, or built by another mibench "
            f"version); rebuilding it from the records would lose:{summary(lost)}\nMove what you want to keep into "
            f"the records (or out of the folder), or pass {OVERWRITE_FLAG} to rebuild it from the records anyway")


def render(frame: pd.DataFrame) -> str:
    """A board's CSV text."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    return buf.getvalue()


def built(folder: Path, board: str) -> str:
    """The CSV text ``<folder>/records/<board>/*.json`` build."""
    return render(aggregate(read_records(folder, board)))


def compare_csv(folder: Path, board: str) -> BoardDiff:
    """``<folder>/<board>.csv`` against what its records build (:mod:`mibench.board.diff`)."""
    return diff((Path(folder) / f"{board}.csv").read_text(), built(folder, board))


def build(folder: Path, board: str) -> Path:
    """Regenerate ``<folder>/<board>.csv`` from ``<folder>/records/<board>/*.json``, whatever the CSV
    holds (a command that must not lose a hand edit calls :func:`check_board_file` first)."""
    folder = Path(folder)
    if (folder / f"{board}.csv").exists():
        read_board(folder / f"{board}.csv")
    elif not any(records_dir(folder, board).glob("*.json")):
        raise LeaderboardError(f"no records of board {board!r} in {records_dir(folder, board)}, so no board to build; "
                               f"`mibench run ... --leaderboard-dir {folder}` writes them{_existing(folder)}")
    atomic_write_text(folder / f"{board}.csv", built(folder, board))
    return folder / f"{board}.csv"


def board_lock(folder: Path, board: str) -> FileLock:
    """Serialises writers of one board (two runs, or a sweep's workers, adding rows at once)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(folder) / f".{board}.lock"), timeout=600)


def add_record(folder: Path, record: RunRecord, grid: Path | None = None, reconstructions: Path | None = None,
               overwrite_edited: bool = False) -> Path:
    """Store ``record`` in the board's records (replacing the same config and seed) with its
    ``reconstructions`` file (:func:`mibench.reconstructions.board_path`), keep its reconstruction
    ``grid`` (PNG) in ``grids/<board>/`` for the site when it is the configuration's lowest seed
    (:func:`mibench.grid.keep_grid`), and rebuild the board's CSV. A CSV whose rebuild would lose a
    hand edit is refused before anything is written, unless ``overwrite_edited``."""
    from .grid import keep_grid
    from .reconstructions import board_path

    spec = record.spec
    board = board_name(spec["suite"], spec["profile"])
    name = f"{record.config_hash}-s{spec['seed']}"
    with board_lock(folder, board):
        check_board_file(folder, board, overwrite_edited)
        if grid is not None and Path(grid).is_file():
            seeds = [r.spec["seed"] for _, r in read_records(folder, board) if r.config_hash == record.config_hash]
            keep_grid(Path(folder) / "grids" / board, record.config_hash, spec["seed"], seeds, Path(grid).read_bytes())
        if reconstructions is not None:
            atomic_write_bytes(board_path(folder, board, name), Path(reconstructions).read_bytes())
        write_record(records_dir(folder, board) / f"{name}.json", record)
        return build(folder, board)
