"""The privacy-utility frontier: every defense along its strength ladder against one attack.

``mibench frontier --attack plg`` runs, for each defense with a ladder (``--ladder`` values, else the
suite profile's ``ladders``, else the defense's own :class:`mibench.defense.Ladder`), every ladder point x seed, plus ``none`` as the reference point, adds each run
to the board (one record per run, as ``mibench run`` does) and draws ``<board>-frontier.png`` from the
board. Runs whose record is already on the board are skipped, and each run reuses every cached stage,
so an interrupted frontier resumes where it stopped. Every point is resolved before any training:
an unknown parameter or an out-of-range ladder value is an error up front.

The figure (matplotlib): natural accuracy (x) against the attack's top-1 accuracy (y) and, in a
second panel, against the KNN distance; one line per defense through its points in order of
natural accuracy, error bars = the standard deviation over seeds, ``none`` as a star, the control
row (the chance level) as a dashed line, and the Pareto-optimal points (no other point has both
higher natural accuracy and lower attack accuracy) circled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .defense import Ladder
from .errors import ConfigError, MibenchError
from .leaderboard import board_name, finished
from .registries import DEFENSES, SUITES
from .spec import RunSpec, resolve


@dataclass(frozen=True)
class Point:
    defense: str
    overrides: dict[str, Any]
    spec: RunSpec


def parse_ladders(items: Iterable[str]) -> dict[str, Ladder]:
    """``--ladder mid.beta=0.01,0.1`` (several fields of one defense are zipped) -> ladders."""
    fields: dict[str, dict[str, list[str]]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        defense, dot, field = key.partition(".")
        if not sep or not dot or not values:
            raise ConfigError(f"--ladder {item!r}: expected DEFENSE.PARAM=V1,V2,..., e.g. mid.beta=0.01,0.1")
        fields.setdefault(defense, {})[field] = values.split(",")
    ladders = {}
    for defense, columns in fields.items():
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ConfigError(f"--ladder for {defense!r}: the fields {sorted(columns)} have different numbers of values")
        ladders[defense] = Ladder(",".join(columns), tuple(dict(zip(columns, row)) for row in zip(*columns.values())))
    return ladders


def plan(suite: str, profile: str, attack: str, defenses: list[str] | None, seeds: int,
         ladders: dict[str, Ladder] | None = None, weights: dict[str, str] | None = None,
         suite_params: dict[str, Any] | None = None) -> list[Point]:
    """Every (defense, ladder point, seed) to run, resolved and validated; ``none`` first. ``weights``
    (role -> SHA-256) pins an imported ``evaluator`` file and ``suite_params`` (``--set
    suite.PARAM=VALUE``) apply in every run."""
    given = dict(ladders or {})
    ladders = {**SUITES.get(suite)().profile(profile).ladders, **given}
    names = defenses or [n for n in DEFENSES.names() if n == "none" or _has_ladder(n, ladders)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"--ladder names defenses that are not in the frontier: {unknown} (defenses: {names})")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if "target" in (weights or {}):
        raise ConfigError("--weights target=FILE imports one undefended target; a frontier trains a target per "
                          "defense strength. Import the judge only (--weights evaluator=FILE), or use mibench run")
    points = []
    for name in ["none"] + [n for n in names if n != "none"]:
        ladder = _ladder(name, ladders)
        if name != "none" and ladder is None:
            raise ConfigError(f"defense {name!r} declares no strength ladder; give one with --ladder {name}.PARAM=V1,V2")
        for overrides in (ladder.points if name != "none" else ({},)):
            for seed in range(seeds):
                spec = resolve(suite, name, attack, profile, seed,
                               {"defense": dict(overrides), "suite": dict(suite_params or {})}, weights=weights)
                points.append(Point(name, dict(overrides), spec))
    return points


def _has_ladder(name: str, ladders: dict[str, Ladder]) -> bool:
    """For the default defense list: a plugin that fails to load is left out, not fatal."""
    try:
        return _ladder(name, ladders) is not None
    except MibenchError:
        return False


def _ladder(name: str, ladders: dict[str, Ladder]) -> Ladder | None:
    return ladders[name] if name in ladders else DEFENSES.get(name).ladder


def pending(points: list[Point], board_dir: Path) -> list[Point]:
    """The points whose record is not yet on the board (what a resumed frontier still runs)."""
    if not points:
        return []
    spec = points[0].spec
    done = finished(board_dir, board_name(spec.suite, spec.profile))
    return [p for p in points if (p.spec.config_hash, p.spec.seed) not in done]


def run_frontier(points: list[Point], board_dir: Path, run_one: Callable[[RunSpec], Any]) -> int:
    """Run the pending points (each adds its record to the board); returns how many ran."""
    todo = pending(points, board_dir)
    for point in todo:
        run_one(point.spec)
    return len(todo)


def pareto(frame: pd.DataFrame, utility: str = "natural_acc", leak: str = "attack_acc_top1") -> pd.Series:
    """True for rows that no other row dominates (utility >= and leak <=, one of them strictly)."""
    u, l = frame[utility].to_numpy(), frame[leak].to_numpy()
    flags = [not any((u2 >= u1 and l2 <= l1) and (u2 > u1 or l2 < l1) for u2, l2 in zip(u, l)) for u1, l1 in zip(u, l)]
    return pd.Series(flags, index=frame.index)


def plot(board: pd.DataFrame, attack: str, path: Path, title: str) -> Path:
    """Draw the frontier of ``attack``'s rows of ``board`` into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = board[(board["attack"] == attack)]
    control = rows[rows["control"].astype(str) == "True"]
    rows = rows[rows["control"].astype(str) != "True"]
    if rows.empty:
        raise ConfigError(f"the board has no {attack!r} rows to draw a frontier from")
    optimal = pareto(rows)
    panels = [("attack_acc_top1", "attack top-1 accuracy (lower = more private)"),
              ("knn_dist", "KNN distance to private data (higher = more private)")]
    panels = [p for p in panels if p[0] in rows.columns]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.8), squeeze=False)
    for ax, (metric, label) in zip(axes[0], panels):
        for defense, group in rows.groupby("defense", sort=True):
            group = group.sort_values("natural_acc")
            style = dict(marker="*", markersize=14, linestyle="none") if defense == "none" else dict(marker="o")
            ax.errorbar(group["natural_acc"], group[metric], xerr=_sd(group, "natural_acc"), yerr=_sd(group, metric),
                        capsize=3, label=defense, **style)
            if "strength" in group.columns:
                for _, r in group.iterrows():
                    if isinstance(r["strength"], str) and r["strength"]:
                        ax.annotate(r["strength"], (r["natural_acc"], r[metric]), fontsize=6,
                                    xytext=(3, 3), textcoords="offset points")
        best = rows[optimal]
        ax.scatter(best["natural_acc"], best[metric], s=160, facecolors="none", edgecolors="black",
                   label="Pareto-optimal" if metric == "attack_acc_top1" else None)
        for _, r in control.iterrows():
            ax.axhline(r[metric], color="grey", linestyle="--", linewidth=1,
                       label="control (chance level)" if metric == "attack_acc_top1" else None)
        ax.set_xlabel("natural accuracy on private_test")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(path)
    return path


def _sd(group: pd.DataFrame, col: str):
    sd = f"{col}_sd"
    return group[sd].fillna(0).to_numpy() if sd in group.columns else None
