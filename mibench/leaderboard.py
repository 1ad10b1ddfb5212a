"""Leaderboards: CSV tables generated from run records, never edited by hand (RobustBench style).

A leaderboard folder holds ``records/<board>/<config_hash>-s<seed>.json`` (one record per result)
and ``<board>.csv``, regenerated from all records of the board whenever one is added. A board is a
suite and profile: ``mnist`` (full profile) or ``mnist-quick``. ``tolerances.json`` declares, per
board and metric, how far a re-computed value may drift before ``mibench leaderboard check`` fails.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .cache import atomic_write_text
from .errors import LeaderboardError
from .records import write_record

COLUMNS = [
    "suite", "profile", "defense", "attack", "target_arch", "evaluator", "natural_acc",
    "attack_acc_top1", "attack_acc_top5", "attack_acc_top1_std", "attack_acc_top5_std", "knn_dist",
    "fid", "fid_backbone", "fid_subset", "n_classes", "n_per_class", "seeds", "seed", "config_hash",
    "mibench_version", "git_commit", "torch_version", "device", "runtime_s", "record",
]
METRICS = ["natural_acc", "attack_acc_top1", "attack_acc_top5", "attack_acc_top1_std", "attack_acc_top5_std",
           "knn_dist", "fid"]


def board_name(suite: str, profile: str) -> str:
    return suite if profile == "full" else f"{suite}-{profile}"


def row_from_record(record: dict[str, Any], record_path: str) -> dict[str, Any]:
    spec, metrics, budget = record["spec"], record["metrics"], record["budget"]
    return {
        "suite": spec["suite"], "profile": spec["profile"], "defense": spec["defense"], "attack": spec["attack"],
        "target_arch": record["target_arch"], "evaluator": record["evaluator_arch"],
        "natural_acc": record["natural_acc"], **{m: metrics.get(m) for m in METRICS if m != "natural_acc"},
        "fid_backbone": metrics.get("fid_backbone"), "fid_subset": metrics.get("fid_subset"),
        "n_classes": len(budget["classes"]), "n_per_class": budget["per_class"] * budget["seeds"],
        "seeds": budget["seeds"], "seed": spec["seed"], "config_hash": record["config_hash"],
        "mibench_version": record["versions"]["mibench"], "git_commit": record["versions"]["git"],
        "torch_version": record["versions"]["torch"], "device": record["device"],
        "runtime_s": round(record["timings"]["total"], 1), "record": record_path,
    }


def read_board(csv_path: Path) -> pd.DataFrame:
    """A leaderboard CSV, checked to hold mibench's columns and no others."""
    if not csv_path.is_file():
        raise LeaderboardError(f"no leaderboard at {csv_path}; run `mibench run ... --leaderboard-dir {csv_path.parent}`")
    frame = pd.read_csv(csv_path)
    foreign = [c for c in frame.columns if c not in COLUMNS]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if foreign or missing:
        raise LeaderboardError(
            f"{csv_path} is not a mibench leaderboard (foreign columns: {foreign or 'none'}; missing: "
            f"{missing or 'none'}). Leaderboards are generated from records; move the file aside and rerun "
            f"`mibench leaderboard build`"
        )
    return frame


def build(folder: Path, board: str) -> Path:
    """Regenerate ``<folder>/<board>.csv`` from ``<folder>/records/<board>/*.json``."""
    csv_path = folder / f"{board}.csv"
    if csv_path.exists():
        read_board(csv_path)  # refuse to overwrite a file that is not ours
    rows = []
    for path in sorted((folder / "records" / board).glob("*.json")):
        rows.append(row_from_record(json.loads(path.read_text()), str(path.relative_to(folder))))
    frame = pd.DataFrame(rows, columns=COLUMNS).sort_values(["defense", "attack", "seed"], kind="stable")
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(csv_path, buf.getvalue())
    return csv_path


def add_record(folder: Path, record: dict[str, Any]) -> Path:
    """Store ``record`` in the board's records (replacing the same config and seed) and rebuild its CSV."""
    spec = record["spec"]
    board = board_name(spec["suite"], spec["profile"])
    csv_path = folder / f"{board}.csv"
    if csv_path.exists():
        read_board(csv_path)
    write_record(folder / "records" / board / f"{record['config_hash']}-s{spec['seed']}.json", record)
    return build(folder, board)


def load_tolerances(folder: Path, board: str) -> dict[str, dict[str, float]]:
    """Per metric ``{"abs": a, "rel": r}``: a value passes when ``|new - old| <= a + r * |old|``.

    Keys starting with ``_`` are comments. A bare number is an absolute tolerance.
    """
    path = folder / "tolerances.json"
    if not path.is_file():
        raise LeaderboardError(f"{path} is missing: it declares how far each metric may drift")
    table = json.loads(path.read_text())
    if board not in table:
        raise LeaderboardError(f"{path} declares no tolerances for board {board!r} (it has {sorted(table)})")
    out = {}
    for metric, tol in table[board].items():
        if metric.startswith("_"):
            continue
        tol = {"abs": tol} if isinstance(tol, (int, float)) else tol
        out[metric] = {"abs": float(tol.get("abs", 0.0)), "rel": float(tol.get("rel", 0.0))}
    return out


def compare(expected: dict[str, Any], actual: dict[str, Any],
            tolerances: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per metric: expected, actual, allowed drift and whether it is within (NaN equals NaN)."""
    rows = []
    for metric, tol in tolerances.items():
        e, a = float(expected[metric]), float(actual[metric])
        allowed = tol["abs"] + tol["rel"] * abs(e)
        ok = (math.isnan(e) and math.isnan(a)) or abs(e - a) <= allowed
        rows.append({"metric": metric, "expected": e, "actual": a, "tolerance": allowed, "ok": ok})
    return rows


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table of ``frame`` (floats to 4 significant digits), for the README."""
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
