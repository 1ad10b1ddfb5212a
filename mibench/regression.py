"""Leaderboard regression: recompute a board's rows and check them, exactly where the float
environment allows it, else within tolerances from each row's own spread over seeds.

**Exact mode.** A record stores the SHA-256 of what each stage of its run produced
(``RunRecord.stage_sha256``: target weights, each prior and attack artifact, the reconstructions,
the judge, the metrics; :mod:`mibench.stage_hashes`). When a recomputed record ran in its committed
record's float environment (:data:`ENVIRONMENT` of :func:`mibench.determinism.describe`, torch's
version and the device), every stage checksum and every metric must be equal; on a mismatch the
check names the first stage that differs, in pipeline order, and the component that owns it.

**Statistical mode**, for a record without stage checksums or recomputed in another environment.
On another machine a GAN attack's float differences grow until a seed's result is, at worst, a
fresh draw from the seed distribution, so the difference of two n-seed means has standard deviation
``sqrt(2 / n) * sd``. A row's mean of a metric may therefore drift by (:func:`row_tolerances`)

    allowed = max(floor, K * sqrt(2 / n) * sd)                       absolute metrics
    allowed = max(floor, K * sqrt(2 / n) * sd / |mean|) * |mean|     relative metrics

with ``K = 3``, ``n`` the row's seeds and ``sd`` the row's own standard deviation over them. For a
metric declared a ``fraction`` of the reconstructions (attack accuracies) ``sd`` is at least the
binomial sampling noise of one seed's N reconstructions, ``sqrt(p (1 - p) / N)``, which any redraw
has. The floor is the larger of a fixed one (half a point of natural accuracy, two reconstructions'
worth ``2 / (N n)`` of a fraction, 5 % of a distance or score) and twice the largest deviation of a
row mean measured in another float environment (``_derived.perturbed`` of ``tolerances.json``,
below). ``allowed`` is the smallest change of the row's mean the check detects; ``leaderboard check
--explain`` prints it per row and metric. A row of one seed has no spread: it gets the tolerance
derived from the rows of its attack (``_by_attack``; the board's when its attack has no row of
several seeds), scaled to its seeds: how much a seed moves is the attack's (a GAN attack's seeds
differ far more than a deterministic one's), so the board-wide worst case would catch nothing.

Which metrics are checked, and whether absolutely (fractions, natural accuracy) or relatively
(distances, scores), comes from the board's :class:`~mibench.board.schema.BoardSchema`.

``tolerances.json`` holds the board-wide tolerances, *derived* from the board's own records by
:func:`derive_tolerances`: ``max(floor, K * sqrt(2 / n) * sd_max)`` with ``sd_max`` the largest
sd of any row, and the same per attack over its rows (``_by_attack``: what a one-seed row gets), widened by ``derive_tolerances(..., perturbed=records)``
to at least twice the largest deviation of a row's mean among records of the same rows recomputed
in another float environment (``mibench leaderboard check --keep DIR`` under, e.g., another thread
count or kernel set; the deviations are kept under ``_derived.perturbed``, the floor above). Every
checked metric must have an entry: a board metric without one is an error, not a silent pass.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .board.provenance import check_recomputable
from .board.schema import SD, UTILITY, BoardSchema
from .cache import atomic_write_text
from .errors import LeaderboardError
from .leaderboard import aggregate, read_records
from .records import RunRecord
from .spec import RunSpec
from .stage_hashes import first_difference, owner

K = 3.0
UTILITY_FLOOR = 0.005  # half a point of natural accuracy
RELATIVE_FLOOR = 0.05  # 5 % of a distance or score


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


def read_perturbed(folder: Path) -> list[tuple[str, RunRecord]]:
    """Every record under ``folder`` (a ``check --keep`` output: ``.../record.json``, or plain ``*.json``)."""
    paths = sorted(Path(folder).rglob("*.json"))
    if not paths:
        raise LeaderboardError(f"no records under {folder}; write some with `mibench leaderboard check --keep {folder}`")
    return [(str(p), RunRecord.read(p)) for p in paths]


def derive_tolerances(folder: Path, board: str, perturbed: list[tuple[str, RunRecord]] | None = None) -> dict[str, Any]:
    """Tolerances of ``board`` from the spread over seeds of its records and, when given, from the
    deviations of the ``perturbed`` records' row means (see the module docstring)."""
    records = read_records(folder, board)
    board_frame, schema = aggregate(records), BoardSchema.from_records(records)
    if board_frame.empty:
        raise LeaderboardError(f"board {board!r} in {folder} has no records to derive tolerances from")
    frame = board_frame[board_frame.n_seeds >= 2].reset_index(drop=True)  # rows with a measured spread
    if frame.empty:
        raise LeaderboardError(f"board {board!r}: no row has 2 or more seeds, so no spread can be measured; "
                               f"run each configuration with --seed 0, 1 and 2")
    n = int(frame.n_seeds.min())
    out, spread = _spread_tolerances(frame, schema, n)
    by_attack = {str(attack): _spread_tolerances(rows.reset_index(drop=True), schema, n)[0]
                 for attack, rows in frame.groupby("attack")}
    derived = {"rule": f"max(floor, {K} * sqrt(2/{n}) * sd_max); see mibench/regression.py",
               "seeds_per_row": n, "rows": len(frame), "spread": spread,
               "rows_with_fewer_seeds": f"{len(board_frame) - len(frame)}: checked with their attack's tolerances "
                                        f"(`_by_attack`, else the board's) x sqrt({n} / n_seeds)"}
    if perturbed:
        derived["perturbed"] = seen = _widen(out, board_frame, perturbed)  # every rerun row, one seed or more
        for tolerances in by_attack.values():
            _floor(tolerances, seen)
    out["_by_attack"] = by_attack
    out["_derived"] = derived
    return out


def _spread_tolerances(frame: pd.DataFrame, schema: BoardSchema, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per checked metric, ``max(floor, K * sqrt(2 / n) * sd_max)`` over the rows of ``frame`` (rows of
    2 or more seeds), and the spread it came from."""
    per_seed = frame.n_per_class * frame.n_classes  # reconstructions of one run
    images = int(per_seed.min()) * n
    out: dict[str, Any] = {}
    spread = {}
    for metric in schema.checked():
        column = schema.metric(metric) if metric != UTILITY else None
        sd = frame.get(metric + SD, pd.Series([0.0] * len(frame))).fillna(0.0)
        if column is not None and column.fraction:
            p = frame[metric].clip(0, 1)
            sd = pd.concat([sd, (p * (1 - p) / per_seed) ** 0.5], axis=1).max(axis=1)
        if column is not None and column.tolerance == "rel":
            rel_sd = float((sd / frame[metric].abs()).max())
            out[metric] = {"rel": round(max(RELATIVE_FLOOR, K * math.sqrt(2 / n) * rel_sd), 4)}
            spread[metric] = {"max_relative_sd_over_seeds": round(rel_sd, 4)}
        else:
            floor = UTILITY_FLOOR if column is None else 2 / images
            out[metric] = {"abs": round(max(floor, K * math.sqrt(2 / n) * float(sd.max())), 4)}
            spread[metric] = {"sd_max": round(float(sd.max()), 4)}  # fractions: at least binomial
    return out, spread


def _floor(out: dict[str, Any], seen: dict[str, Any]) -> None:
    """Widen ``out`` to twice the deviations ``seen`` in another float environment (:func:`_widen`'s)."""
    for metric, tol in out.items():
        if isinstance(seen.get(metric), (int, float)):
            key = "rel" if "rel" in tol else "abs"
            tol[key] = round(max(tol[key], 2 * seen[metric]), 4)


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
        worst = float((dev / joined[metric].abs()).max()) if "rel" in tol else float(dev.max())
        seen[metric] = round(worst, 4)
    _floor(out, {m: v for m, v in seen.items() if m in out})
    return seen


DOC = ("Board-wide drift per board and metric for `mibench leaderboard check` in statistical mode: a recomputed row "
       "of one seed passes when |new - old| <= abs + rel * |old| for its mean, with its attack's entry under "
       "`_by_attack` (else the board's); a row of several seeds gets tolerances from its own spread, floored by twice "
       "the deviations under `_derived.perturbed`. Written by `mibench leaderboard tolerances` from the spread over "
       "seeds of the board's own records (rule and spread under `_derived`; see mibench/regression.py).")


def write_tolerances(folder: Path, board: str, perturbed: Path | None = None) -> dict[str, Any]:
    path = Path(folder) / "tolerances.json"
    table = json.loads(path.read_text()) if path.is_file() else {}
    table["_doc"] = DOC
    table[board] = derive_tolerances(folder, board, read_perturbed(perturbed) if perturbed else None)
    atomic_write_text(path, json.dumps(table, indent=2) + "\n")
    return table[board]


ENVIRONMENT = ("threads", "cpu_capability", "env", "cpu", "deterministic_algorithms", "precision")
"""The keys of :func:`mibench.determinism.describe` that decide float results (with torch's version and the device)."""


PINNED_SINCE = {"OPENBLAS_NUM_THREADS": "1"}
"""Pins of :data:`mibench.determinism.FLOAT_ENV` that older records predate, with the value a record
without them is compared at: OpenBLAS's one thread is what a sweep's Ray workers had
(``OMP_NUM_THREADS=1``); a plain run had one per core, which an exact check that differs will name."""


def environment(record: RunRecord) -> dict[str, Any]:
    """What decides a record's float results: :data:`ENVIRONMENT`, torch's version and the device
    (a record written before ``precision`` was stored ran in fp32; one written before a pin of
    :data:`PINNED_SINCE` is compared at that pin)."""
    env = {k: record.float_env.get(k) for k in ENVIRONMENT}
    env["precision"] = env["precision"] or "fp32"
    if isinstance(env["env"], dict):
        env["env"] = {**PINNED_SINCE, **env["env"]}
    return {**env, "torch": record.versions.get("torch"), "device": record.device}


def environment_difference(committed: RunRecord, fresh: RunRecord) -> str:
    """How the recomputation's float environment differs from the record's ("" when it is the same)."""
    a, b = environment(committed), environment(fresh)
    return ", ".join(f"{k} {a[k]!r} here {b[k]!r}" for k in a if a[k] != b[k])


@dataclass
class RowCheck:
    """One row's check: ``exact`` (every stage's checksum and every metric equal to the records'),
    else within its statistical tolerances; ``reason`` says why a row was checked statistically,
    ``stage`` names the first stage that differs in exact mode and ``owner`` its component."""

    label: str
    comparisons: list[dict[str, Any]]
    exact: bool = False
    reason: str = ""
    stage: str | None = None
    owner: str = ""

    @property
    def ok(self) -> bool:
        return self.stage is None and all(c["ok"] for c in self.comparisons)


@dataclass
class Tolerance:
    """The drift a row's mean of one metric may show: ``allowed`` in the metric's unit (a change of
    the mean larger than it fails: the smallest change the check detects at the row's spread), and
    the rule that gave it."""

    allowed: float
    rule: str


def board_floors(entry: dict[str, Any]) -> dict[str, float]:
    """Per metric, twice the largest deviation of a row mean seen in another float environment
    (``tolerances.json``'s ``_derived.perturbed``, relative for relative metrics); none when the board
    has no perturbed records."""
    seen = entry.get("_derived", {}).get("perturbed", {})
    return {m: 2 * float(v) for m, v in seen.items() if isinstance(v, (int, float)) and m != "rows"}


def row_tolerances(row: dict[str, Any], schema: BoardSchema, entry: dict[str, Any]) -> dict[str, Tolerance]:
    """Each checked metric's tolerance for ``row`` (a board row: its means, ``_sd`` over seeds, seeds
    and budget), from the row's own spread over seeds (see the module docstring)."""
    n = int(row["n_seeds"])
    per_seed = int(row.get("n_per_class", 0) or 0) * int(row.get("n_classes", 0) or 0)
    board = scaled(_metric_tolerances(entry), entry.get("_derived", {}).get("seeds_per_row"), n)
    floors = board_floors(entry)
    out = {}
    for metric in schema.checked():
        if metric not in row or metric not in board:
            continue
        value = float(row[metric])
        if n < 2:  # no spread measured: its attack's tolerance (else the board's), for a mean of n seeds
            derived_for = entry.get("_derived", {}).get("seeds_per_row", 1)
            attack = str(row.get("attack", ""))
            own = entry.get("_by_attack", {}).get(attack, {})
            tol = scaled(_metric_tolerances(own), derived_for, n).get(metric) or board[metric]
            whose = f"{attack}'s rows'" if metric in own else "the board's"
            out[metric] = Tolerance(tol["abs"] + tol["rel"] * abs(value),
                                    f"one seed: {whose} tolerance x sqrt({derived_for}/{n})")
            continue
        column = schema.metric(metric) if metric != UTILITY else None
        sd = float(row.get(metric + SD, 0.0))
        sd = 0.0 if math.isnan(sd) else sd
        factor = K * math.sqrt(2 / n)
        if column is not None and column.fraction and per_seed:
            p = min(max(value, 0.0), 1.0)
            sd = max(sd, math.sqrt(p * (1 - p) / per_seed))
        if column is not None and column.tolerance == "rel":
            floor = max(RELATIVE_FLOOR, floors.get(metric, 0.0))
            rel = max(floor, factor * sd / abs(value)) if value else floor
            out[metric] = Tolerance(rel * abs(value), f"max({floor:.3g}, {K:g} x sqrt(2/{n}) x sd {sd:.3g} / |mean|) "
                                                      f"= {rel:.3g} x |mean|")
        else:
            static = UTILITY_FLOOR if column is None else 2 / (per_seed * n) if per_seed else 0.0
            floor = max(static, floors.get(metric, 0.0))
            allowed = max(floor, factor * sd)
            out[metric] = Tolerance(allowed, f"max({floor:.3g}, {K:g} x sqrt(2/{n}) x sd {sd:.3g})")
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _exact(row: dict[str, Any], actual: dict[str, Any], metrics: list[str],
           pairs: list[tuple[RunRecord, RunRecord]]) -> RowCheck:
    """Every stage checksum and metric of each recomputed record equal to its committed record's."""
    comparisons = [{"metric": m, "expected": float(row[m]), "actual": float(actual[m]), "tolerance": 0.0,
                    "ok": _same(float(row[m]), float(actual[m]))} for m in metrics if m in row]
    check = RowCheck("", comparisons, exact=True)
    for old, new in pairs:
        differing = [m for m, v in old.metrics.items() if not _equal(v, new.metrics.get(m))]
        stage = first_difference(old.stage_sha256, new.stage_sha256) or ("metrics" if differing else None)
        if stage is not None:  # "metrics" without a checksum difference: the record's metrics were edited
            check.stage = f"{stage} (seed {old.spec['seed']})"
            check.owner = owner(stage, new.components or old.components, new.evaluator_arch, differing)
            break
    return check


def _equal(a: Any, b: Any) -> bool:
    """Equal metric values (NaN equals NaN)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _same(float(a), float(b))
    return a == b


def check_board(folder: Path, board: str, run: Callable[[RunSpec, Path], RunRecord],
                rows: Iterable[int] | None = None, on_row: Callable[[RowCheck], None] | None = None,
                keep: Path | None = None) -> list[RowCheck]:
    """Recompute every row (or the rows at positions ``rows``) of the board its records build, from
    its records' specs with ``run(spec, out_dir)``, and check each: exactly when its records store
    their stage checksums and the recomputation ran in their float environment, else within the
    row's statistical tolerances (:func:`row_tolerances`). The recomputed run folders go to ``keep``
    when given (else a temporary folder). The CSV itself is compared with the build separately
    (:func:`mibench.leaderboard.compare_csv`)."""
    folder = Path(folder)
    records = read_records(folder, board)
    committed, schema = aggregate(records), BoardSchema.from_records(records)
    entry = _board_tolerances(folder, board)
    checked = schema.checked()
    missing = [m for m in checked if m not in _metric_tolerances(entry)]
    if missing:
        raise LeaderboardError(f"tolerances.json declares no tolerance for {', '.join(missing)} on board {board!r}: "
                               f"derive them again with `mibench leaderboard tolerances --dir {folder}`")
    picked = list(range(len(committed))) if rows is None else list(rows)
    bad = [r for r in picked if not 0 <= r < len(committed)]
    if bad:
        raise LeaderboardError(f"board {board!r} has rows 0-{len(committed) - 1}; no row {bad[0]}")
    by_path = dict(records)
    check_recomputable(board, [(rel, by_path[rel]) for i in picked
                               for rel in str(committed.iloc[i]["records"]).split()])
    results = []
    with tempfile.TemporaryDirectory(prefix="mibench-check-") as tmp:
        out = Path(keep) if keep else Path(tmp)
        for i in picked:
            row = committed.iloc[i].to_dict()
            pairs = []
            for rel in str(row["records"]).split():
                old = by_path[rel]
                pairs.append((old, run(RunSpec.from_dict(old.spec), out)))
            actual = aggregate([(str(k), new) for k, (_, new) in enumerate(pairs)]).iloc[0].to_dict()
            reason = next((f"float environment differs: {d}" for d in (environment_difference(o, n) for o, n in pairs)
                           if d), "")
            if not reason and not all(o.stage_sha256 for o, _ in pairs):
                reason = "its records predate stage checksums"
            if reason:
                tolerances = row_tolerances(row, schema, entry)
                result = RowCheck("", [{"metric": m, "expected": float(row[m]), "actual": float(actual[m]),
                                        "tolerance": t.allowed, "rule": t.rule,
                                        "ok": _same(float(row[m]), float(actual[m]))
                                        or abs(float(row[m]) - float(actual[m])) <= t.allowed}
                                       for m, t in tolerances.items()], reason=reason)
            else:
                result = _exact(row, actual, checked, pairs)
            result.label = row_label(row)
            results.append(result)
            if on_row:
                on_row(result)
    return results


def row_label(row: dict[str, Any]) -> str:
    return f"{row['defense']} x {row['attack']}{' (control)' if row['control'] else ''} [{row['config_hash']}]"


def explain(folder: Path, board: str, rows: Iterable[int] | None = None) -> list[tuple[str, str, dict[str, Tolerance]]]:
    """Without recomputing anything: each row's label, how it would be checked (exact when its
    records store stage checksums and a rerun matches their float environment) and its statistical
    tolerances."""
    folder = Path(folder)
    records = read_records(folder, board)
    committed, schema = aggregate(records), BoardSchema.from_records(records)
    entry = _board_tolerances(folder, board)
    by_path = dict(records)
    out = []
    for i in range(len(committed)) if rows is None else rows:
        row = committed.iloc[i].to_dict()
        recs = [by_path[p] for p in str(row["records"]).split()]
        envs = sorted({json.dumps(environment(r), sort_keys=True) for r in recs})
        mode = ("exact where a rerun's float environment equals its records' " + "; ".join(envs)
                if all(r.stage_sha256 for r in recs) else "statistical: its records predate stage checksums")
        out.append((row_label(row), mode, row_tolerances(row, schema, entry)))
    return out
