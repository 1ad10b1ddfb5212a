"""Leaderboard regression: recompute a board's rows and compare them within derived tolerances.

``tolerances.json`` declares, per board and metric, how far a recomputed row may drift:
``|new - old| <= abs + rel * |old|``, on the row's mean over its run seeds. The tolerances are
*derived* from the board's own records by :func:`derive_tolerances`, not typed:

    allowed = max(floor, k * sqrt(2 / n) * sd_max)

where ``sd_max`` is the largest standard deviation over run seeds of the metric among the board's
rows, ``n`` the number of seeds per row and ``k = 3``. The reasoning: on another machine a GAN
attack's float differences grow until a seed's result is, at worst, a fresh draw from the seed
distribution, so the difference of two n-seed means has standard deviation ``sqrt(2 / n) * sd``.
Three seeds estimate a standard deviation poorly, so for attack accuracies a row's sd is at least
the binomial sampling noise of one seed's N reconstructions, ``sqrt(p (1 - p) / N)``, which any
redraw has. The floors hold where the seeds happen to agree (a saturated attack): two
reconstructions' worth of accuracy, 5 % of a distance, and for the seed-independent natural
accuracy half a point.

Some metrics move with the float environment beyond the seed spread: KNN distance and FID are
measured in the judge's features, and a judge retrained on another machine has other features.
``derive_tolerances(..., perturbed=records)`` takes records of the same rows recomputed in another
float environment (``mibench leaderboard check --keep DIR`` under, e.g., another thread count or
kernel set) and widens each metric to at least twice the largest deviation of a row's mean seen
there.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .cache import atomic_write_text
from .errors import LeaderboardError
from .leaderboard import aggregate, read_board, read_records
from .records import RunRecord
from .spec import RunSpec

CHECKED = ("natural_acc", "attack_acc_top1", "attack_acc_top5", "knn_dist", "fid")
ACCURACIES = ("attack_acc_top1", "attack_acc_top5")  # fractions of N reconstructions per seed
K = 3.0
RELATIVE = ("knn_dist", "fid")  # scale-dependent metrics get relative tolerances


def _board_tolerances(folder: Path, board: str) -> dict[str, Any]:
    """``board``'s entry of ``<folder>/tolerances.json`` (metrics and ``_derived``)."""
    path = Path(folder) / "tolerances.json"
    if not path.is_file():
        raise LeaderboardError(f"{path} is missing: it declares how far each metric may drift; derive it with "
                               f"`mibench leaderboard tolerances --dir {folder}`")
    table = json.loads(path.read_text())
    if board not in table:
        raise LeaderboardError(f"{path} declares no tolerances for board {board!r} (it has {sorted(k for k in table if not k.startswith('_'))})")
    return table[board]


def _metric_tolerances(entry: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for metric, tol in entry.items():
        if metric.startswith("_"):
            continue
        tol = {"abs": tol} if isinstance(tol, (int, float)) else tol
        out[metric] = {"abs": float(tol.get("abs", 0.0)), "rel": float(tol.get("rel", 0.0))}
    return out


def load_tolerances(folder: Path, board: str) -> dict[str, dict[str, float]]:
    """Per metric ``{"abs": a, "rel": r}``. Keys starting with ``_`` are comments; a bare number is absolute."""
    return _metric_tolerances(_board_tolerances(folder, board))


def scaled(tolerances: dict[str, dict[str, float]], derived_for: int | None, n_seeds: int) -> dict[str, dict[str, float]]:
    """Tolerances for a row of ``n_seeds`` seeds: a mean of fewer seeds than the tolerances were
    derived for varies more, by ``sqrt(derived_for / n_seeds)``."""
    factor = math.sqrt(derived_for / n_seeds) if derived_for and n_seeds < derived_for else 1.0
    return {m: {k: v * factor for k, v in tol.items()} for m, tol in tolerances.items()}


def compare(expected: dict[str, Any], actual: dict[str, Any],
            tolerances: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per metric: expected, actual, allowed drift and whether it is within (NaN equals NaN)."""
    rows = []
    for metric, tol in tolerances.items():
        if metric not in expected:
            continue
        e, a = float(expected[metric]), float(actual[metric])
        allowed = tol["abs"] + tol["rel"] * abs(e)
        ok = (math.isnan(e) and math.isnan(a)) or abs(e - a) <= allowed
        rows.append({"metric": metric, "expected": e, "actual": a, "tolerance": allowed, "ok": ok})
    return rows


def read_perturbed(folder: Path) -> list[tuple[str, RunRecord]]:
    """Every record under ``folder`` (a ``check --keep`` output: ``.../record.json``, or plain ``*.json``)."""
    paths = sorted(Path(folder).rglob("*.json"))
    if not paths:
        raise LeaderboardError(f"no records under {folder}; write some with `mibench leaderboard check --keep {folder}`")
    return [(str(p), RunRecord.read(p)) for p in paths]


def derive_tolerances(folder: Path, board: str, perturbed: list[tuple[str, RunRecord]] | None = None) -> dict[str, Any]:
    """Tolerances of ``board`` from the spread over seeds of its records and, when given, from the
    deviations of the ``perturbed`` records' row means (see the module docstring)."""
    board_frame = aggregate(read_records(folder, board))
    if board_frame.empty:
        raise LeaderboardError(f"board {board!r} in {folder} has no records to derive tolerances from")
    frame = board_frame[board_frame.n_seeds >= 2].reset_index(drop=True)  # rows with a measured spread
    if frame.empty:
        raise LeaderboardError(f"board {board!r}: no row has 2 or more seeds, so no spread can be measured; "
                               f"run each configuration with --seed 0, 1 and 2")
    n = int(frame.n_seeds.min())
    per_seed = frame.n_per_class * frame.n_classes  # reconstructions of one run
    images = int(per_seed.min()) * n
    out: dict[str, Any] = {}
    spread = {}
    for metric in CHECKED:
        if metric not in frame:
            continue
        sd = frame.get(f"{metric}_sd", pd.Series([0.0] * len(frame))).fillna(0.0)
        if metric in ACCURACIES:
            p = frame[metric].clip(0, 1)
            sd = pd.concat([sd, (p * (1 - p) / per_seed) ** 0.5], axis=1).max(axis=1)
        if metric in RELATIVE:
            rel_sd = float((sd / frame[metric].abs()).max())
            out[metric] = {"rel": round(max(0.05, K * math.sqrt(2 / n) * rel_sd), 4)}
            spread[metric] = {"max_relative_sd_over_seeds": round(rel_sd, 4)}
        else:
            floor = 0.005 if metric == "natural_acc" else 2 / images
            out[metric] = {"abs": round(max(floor, K * math.sqrt(2 / n) * float(sd.max())), 4)}
            spread[metric] = {"sd_max": round(float(sd.max()), 4)}  # accuracies: at least binomial
    derived = {"rule": f"max(floor, {K} * sqrt(2/{n}) * sd_max); see mibench/regression.py",
               "seeds_per_row": n, "rows": len(frame), "spread": spread,
               "rows_with_fewer_seeds": f"{len(board_frame) - len(frame)}: checked with the tolerances x sqrt({n} / n_seeds)"}
    if perturbed:
        derived["perturbed"] = _widen(out, board_frame, perturbed)  # every rerun row, one seed or more
    out["_derived"] = derived
    return out


def _widen(out: dict[str, Any], committed: pd.DataFrame, perturbed: list[tuple[str, RunRecord]]) -> dict[str, Any]:
    """Widen ``out`` to twice the largest deviation of a row mean among the ``perturbed`` records;
    returns the deviations seen (relative for relative tolerances) and the environments."""
    joined = committed.merge(aggregate(perturbed), on="config_hash", suffixes=("", "_other"))
    envs = {json.dumps({"threads": r.float_env.get("threads"), **r.float_env.get("env", {})}, sort_keys=True)
            for _, r in perturbed}
    seen: dict[str, Any] = {"rows": len(joined), "float_env": sorted(envs)}
    for metric, tol in out.items():
        if f"{metric}_other" not in joined:
            continue
        dev = (joined[f"{metric}_other"] - joined[metric]).abs()
        if "rel" in tol:
            worst = float((dev / joined[metric].abs()).max())
            tol["rel"] = round(max(tol["rel"], 2 * worst), 4)
        else:
            worst = float(dev.max())
            tol["abs"] = round(max(tol["abs"], 2 * worst), 4)
        seen[metric] = round(worst, 4)
    return seen


DOC = ("Allowed drift per board and metric for `mibench leaderboard check`: a recomputed row passes when "
       "|new - old| <= abs + rel * |old| for its mean over seeds. Written by `mibench leaderboard tolerances` from "
       "the spread over seeds of the board's own records (rule and spread under `_derived`; see mibench/regression.py).")


def write_tolerances(folder: Path, board: str, perturbed: Path | None = None) -> dict[str, Any]:
    path = Path(folder) / "tolerances.json"
    table = json.loads(path.read_text()) if path.is_file() else {}
    table["_doc"] = DOC
    table[board] = derive_tolerances(folder, board, read_perturbed(perturbed) if perturbed else None)
    atomic_write_text(path, json.dumps(table, indent=2) + "\n")
    return table[board]


@dataclass
class RowCheck:
    label: str
    comparisons: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.comparisons)


def check_board(folder: Path, board: str, run: Callable[[RunSpec, Path], RunRecord],
                rows: Iterable[int] | None = None, on_row: Callable[[RowCheck], None] | None = None,
                keep: Path | None = None) -> list[RowCheck]:
    """Recompute every row (or the rows at positions ``rows``) of ``board`` from its records'
    specs, with ``run(spec, out_dir)``, and compare each row's seed mean within the tolerances.
    The recomputed run folders go to ``keep`` when given (else a temporary folder)."""
    folder = Path(folder)
    committed = read_board(folder / f"{board}.csv")
    entry = _board_tolerances(folder, board)
    tolerances, derived_for = _metric_tolerances(entry), entry.get("_derived", {}).get("seeds_per_row")
    picked = list(range(len(committed))) if rows is None else list(rows)
    bad = [r for r in picked if not 0 <= r < len(committed)]
    if bad:
        raise LeaderboardError(f"board {board!r} has rows 0-{len(committed) - 1}; no row {bad[0]}")
    results = []
    with tempfile.TemporaryDirectory(prefix="mibench-check-") as tmp:
        out = Path(keep) if keep else Path(tmp)
        for i in picked:
            row = committed.iloc[i]
            fresh = []
            for rel in str(row["records"]).split():
                spec = RunSpec.from_dict(RunRecord.read(folder / rel).spec)
                fresh.append((rel, run(spec, out)))
            actual = aggregate(fresh).iloc[0].to_dict()
            label = f"{row['defense']} x {row['attack']}{' (control)' if row['control'] else ''} [{row['config_hash']}]"
            result = RowCheck(label, compare(row.to_dict(), actual, scaled(tolerances, derived_for, int(row["n_seeds"]))))
            results.append(result)
            if on_row:
                on_row(result)
    return results
