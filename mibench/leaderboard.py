"""Leaderboards: CSV tables generated from run records, never edited by hand (RobustBench style).

A leaderboard folder holds ``records/<board>/<config_hash>-s<seed>.json`` (one :class:`RunRecord`
per result) and ``<board>.csv``, regenerated from all records of the board whenever one is added.
A board is a suite and profile: ``mnist`` (full profile) or ``mnist-quick``.

The CSV has one row per configuration (defense, attack and their parameters, control or not),
aggregating its run seeds: each numeric metric's mean over seeds and, as ``<metric>_sd``, its
standard deviation over seeds (ddof 1). Columns are the identity columns, then the metrics the
records' evaluators declared (so a new evaluator's metric appears without editing this file),
then provenance. Volatile provenance (commit, runtime) comes last so CSV diffs show numbers first.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from .cache import atomic_write_bytes, atomic_write_text
from .errors import LeaderboardError
from .records import RunRecord, write_record

IDENTITY = ["suite", "profile", "defense", "attack", "control", "config_hash"]
HEAD = ["strength", "n_seeds", "seeds", "natural_acc", "evaluator_acc"]
PROVENANCE = ["target_arch", "evaluator", "defense_params", "attack_params", "n_classes", "n_per_class",
              "budget_seeds", "attack_queries", "defense_version", "attack_version", "mibench_version",
              "torch_version", "threads", "cpu_capability", "device", "git_commit", "runtime_s", "records"]


def board_name(suite: str, profile: str) -> str:
    return suite if profile == "full" else f"{suite}-{profile}"


def records_dir(folder: Path, board: str) -> Path:
    return Path(folder) / "records" / board


def read_records(folder: Path, board: str) -> list[tuple[str, RunRecord]]:
    """(path relative to ``folder``, record) of every record of ``board``, sorted by file name."""
    folder = Path(folder)
    return [(str(p.relative_to(folder)), RunRecord.read(p)) for p in sorted(records_dir(folder, board).glob("*.json"))]


def finished(folder: Path, board: str) -> set[tuple[str, int]]:
    """(config hash, seed) of every run on the board: what a resumed frontier or sweep skips."""
    return {(r.config_hash, r.spec["seed"]) for _, r in read_records(folder, board)}


def _params(params: dict[str, Any]) -> str:
    """The parameters as ``k=v;...`` (all of them: a row must say exactly what ran)."""
    return ";".join(f"{k}={v}" for k, v in sorted(params.items()))


def aggregate(records: list[tuple[str, RunRecord]]) -> pd.DataFrame:
    """One row per configuration; numeric metrics as mean and ``_sd`` over run seeds."""
    specs: dict[str, dict[str, Any]] = {}
    for _, rec in records:
        for name, spec in rec.metric_specs.items():
            specs.setdefault(name, spec)
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
            "n_seeds": len(recs), "seeds": " ".join(str(r.spec["seed"]) for r in recs),
            "natural_acc": _mean([r.natural_acc for r in recs]), "evaluator_acc": _mean([r.evaluator_acc for r in recs]),
        }
        for name, mspec in specs.items():
            values = [r.metrics.get(name) for r in recs]
            if mspec.get("kind", "number") == "text":
                row[name] = ",".join(sorted({str(v) for v in values if v is not None}))
            else:
                numbers = pd.Series([v for v in values if v is not None], dtype=float)
                row[name] = numbers.mean() if len(numbers) else float("nan")
                row[f"{name}_sd"] = numbers.std(ddof=1) if len(numbers) > 1 else float("nan")
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
    metric_cols = [c for name in specs for c in (name, f"{name}_sd") if c in (rows[0] if rows else {})]
    frame = pd.DataFrame(rows, columns=IDENTITY + HEAD + metric_cols + PROVENANCE)
    return frame.sort_values(["control", "attack", "defense", "config_hash"], kind="stable").reset_index(drop=True)


def _mean(values: list[float]) -> float:
    return float(pd.Series(values, dtype=float).mean())


def read_board(csv_path: Path) -> pd.DataFrame:
    """A leaderboard CSV, checked to be a mibench board (it has the identity columns)."""
    if not csv_path.is_file():
        raise LeaderboardError(f"no leaderboard at {csv_path}; run `mibench run ... --leaderboard-dir {csv_path.parent}`"
                               f"{_existing(csv_path.parent)}")
    frame = pd.read_csv(csv_path)
    if "strength" in frame.columns:  # empty for defenses without a ladder (CSV reads it as NaN)
        frame["strength"] = frame["strength"].astype(object).fillna("")
    missing = [c for c in IDENTITY if c not in frame.columns]
    if missing:
        raise LeaderboardError(
            f"{csv_path} is not a mibench leaderboard (missing the columns {missing}; it has {list(frame.columns)[:8]}). "
            f"Leaderboards are generated from records; move the file aside and rerun `mibench leaderboard build`"
        )
    return frame


def _existing(folder: Path) -> str:
    boards = sorted(p.stem for p in Path(folder).glob("*.csv")) if Path(folder).is_dir() else []
    return f". Boards in {folder}: {', '.join(boards)}" if boards else ""


def check_board_file(folder: Path, board: str) -> None:
    """Refuse up front, before any work, to write into a CSV that is not a mibench board."""
    csv_path = Path(folder) / f"{board}.csv"
    if csv_path.exists():
        read_board(csv_path)


def build(folder: Path, board: str) -> Path:
    """Regenerate ``<folder>/<board>.csv`` from ``<folder>/records/<board>/*.json``."""
    folder = Path(folder)
    check_board_file(folder, board)
    frame = aggregate(read_records(folder, board))
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(folder / f"{board}.csv", buf.getvalue())
    return folder / f"{board}.csv"


def board_lock(folder: Path, board: str) -> FileLock:
    """Serialises writers of one board (two runs, or a sweep's workers, adding rows at once)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(folder) / f".{board}.lock"), timeout=600)


def add_record(folder: Path, record: RunRecord, grid: Path | None = None) -> Path:
    """Store ``record`` in the board's records (replacing the same config and seed), keep its
    reconstruction ``grid`` (PNG) in ``grids/<board>/`` for the site, and rebuild the board's CSV."""
    spec = record.spec
    board = board_name(spec["suite"], spec["profile"])
    name = f"{record.config_hash}-s{spec['seed']}"
    with board_lock(folder, board):
        check_board_file(folder, board)
        if grid is not None and Path(grid).is_file():
            (Path(folder) / "grids" / board).mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(Path(folder) / "grids" / board / f"{name}.png", Path(grid).read_bytes())
        write_record(records_dir(folder, board) / f"{name}.json", record)
        return build(folder, board)


def cell(row: pd.Series, col: str) -> str:
    """One board cell as shown: floats to 4 significant digits, ``mean ± sd`` where ``<col>_sd`` exists."""
    v = row[col]
    if not isinstance(v, float):
        return str(v)
    text = f"{v:.4g}"
    if f"{col}_sd" in row and pd.notna(row[f"{col}_sd"]):
        text += f" ± {row[f'{col}_sd']:.2g}"
    return text


def markdown(frame: pd.DataFrame, columns: list[str]) -> str:
    """A Markdown table of ``frame``'s ``columns`` (cells as :func:`cell`), for the README."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for _, row in frame.iterrows()]
    return "\n".join(lines)


def default_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows run with every parameter at the suite's values (no frontier point, no ``--set``):
    those whose config hash is the one ``mibench run --defense D --attack A`` resolves today."""
    from .errors import MibenchError
    from .spec import resolve

    hashes: dict[tuple, str | None] = {}  # one resolution per (suite, defense, attack, profile, control)

    def is_default(row: pd.Series) -> bool:
        key = (row["suite"], row["defense"], row["attack"], row["profile"], bool(row["control"]))
        if key not in hashes:
            try:
                hashes[key] = resolve(*key[:4], control=key[4]).config_hash
            except MibenchError:  # a component no longer registered here
                hashes[key] = None
        return hashes[key] == row["config_hash"]

    return frame[frame.apply(is_default, axis=1)] if len(frame) else frame


def pivot(frame: pd.DataFrame, metric: str = "attack_acc_top1") -> pd.DataFrame:
    """Defense x attack of ``metric`` (``mean ± sd`` over seeds) at the default strengths; the
    attacks' control rows as a last row ``(control)``."""
    rows = default_rows(frame)
    cells = {(r["defense"] if not r["control"] else "(control)", r["attack"]): cell(r, metric) for _, r in rows.iterrows()}
    defenses = sorted({d for d, _ in cells if d != "(control)"}, key=lambda d: (d != "none", d))
    if any(d == "(control)" for d, _ in cells):
        defenses.append("(control)")
    attacks = sorted({a for _, a in cells})
    return pd.DataFrame([[cells.get((d, a), "") for a in attacks] for d in defenses], index=pd.Index(defenses, name="defense"),
                        columns=attacks)


WORST_CASE_NOTE = ("attacks k/N: the defense met k of the board's N attacks; a defense that missed some ranks after "
                   "those that met them all (`mibench sweep` fills the grid)")


def worst_case(frame: pd.DataFrame, metric: str = "attack_acc_top1") -> pd.DataFrame:
    """Per defense (default strength): natural accuracy, the highest mean ``metric`` over the attacks
    and the attack that reached it; ranked from the most private (lowest worst case) down
    (RobustBench ranks by the worst case over attacks in the same way). ``attacks`` is "k/N": the
    defense met k of the N attacks on the board; a defense that missed some ranks after every
    defense that met them all, since its worst case may not be worst yet."""
    rows = default_rows(frame)
    rows = rows[~rows["control"].astype(bool)]
    total = rows["attack"].nunique()
    out = []
    for defense, group in rows.groupby("defense"):
        worst = group.loc[group[metric].idxmax()]
        out.append({"defense": defense, "natural_acc": group["natural_acc"].mean(), f"worst_{metric}": worst[metric],
                    f"worst_{metric}_sd": worst.get(f"{metric}_sd", float("nan")), "worst_attack": worst["attack"],
                    "attacks": f"{group['attack'].nunique()}/{total}", "_missing": total - group["attack"].nunique()})
    table = pd.DataFrame(out, columns=["defense", "natural_acc", f"worst_{metric}", f"worst_{metric}_sd", "worst_attack",
                                       "attacks", "_missing"])
    table = table.sort_values(["_missing", f"worst_{metric}"], kind="stable").drop(columns="_missing")
    table = table.reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def per_class(records: list[tuple[str, RunRecord]], metric: str = "attack_acc_top1") -> pd.DataFrame:
    """One row per configuration whose records break ``metric`` down by attacked class (records
    written before mibench stored ``per_class`` have none): the identity columns, then one column
    per class label with the class's mean over the configuration's seeds."""
    groups: dict[str, list[RunRecord]] = {}
    for _, rec in records:
        if metric in rec.per_class:
            groups.setdefault(rec.config_hash, []).append(rec)
    rows, classes = [], set()
    for config_hash, recs in groups.items():
        first = recs[0]
        by_class = pd.DataFrame([r.per_class[metric] for r in recs]).mean()
        classes.update(by_class.index)
        rows.append({"defense": first.spec["defense"], "strength": first.strength, "attack": first.spec["attack"],
                     "control": first.control, "config_hash": config_hash, "n_seeds": len(recs), **by_class.to_dict()})
    columns = ["defense", "strength", "attack", "control", "config_hash", "n_seeds", *sorted(classes, key=int)]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["control", "attack", "defense", "config_hash"], kind="stable").reset_index(drop=True)
