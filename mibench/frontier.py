"""The privacy-utility frontier: every defense along its strength ladder against one attack.

``mibench frontier --attack plg`` runs, for each defense with a ladder (``--ladder`` values, else the
suite profile's ``ladders``, else the defense's own :class:`mibench.defense.Ladder`), every ladder point x seed, plus ``none`` as the reference point, adds each run
to the board (one record per run, as ``mibench run`` does) and draws ``<board>-frontier.png`` from the
board. Runs whose record is already on the board are skipped, and each run reuses every cached stage,
so an interrupted frontier resumes where it stopped. Every point is resolved before any training:
an unknown parameter or an out-of-range ladder value is an error up front.

The figure is drawn by :mod:`mibench.frontier_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

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


def plan(suite: str, profile: str, attack: str, defenses: list[str] | None, seeds: Iterable[int] = (0, 1, 2),
         ladders: dict[str, Ladder] | None = None, weights: dict[str, str] | None = None,
         suite_params: dict[str, Any] | None = None) -> list[Point]:
    """Every (defense, ladder point, seed of ``seeds``) to run, resolved and validated; ``none`` first. ``weights``
    (role -> SHA-256) pins an imported ``evaluator`` file and ``suite_params`` (``--set
    suite.PARAM=VALUE``) apply in every run."""
    given = dict(ladders or {})
    ladders = {**SUITES.get(suite)().profile(profile).ladders, **given}
    names = defenses or [n for n in DEFENSES.names() if n == "none" or _has_ladder(n, ladders)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"--ladder names defenses that are not in the frontier: {unknown} (defenses: {names})")
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("--seeds names no seed; e.g. --seeds 0,1,2")
    if "target" in (weights or {}):
        raise ConfigError("--weights target=FILE imports one undefended target; a frontier trains a target per "
                          "defense strength. Import the judge only (--weights evaluator=FILE), or use mibench run")
    points = []
    for name in ["none"] + [n for n in names if n != "none"]:
        ladder = _ladder(name, ladders)
        if name != "none" and ladder is None:
            raise ConfigError(f"defense {name!r} declares no strength ladder; give one with --ladder {name}.PARAM=V1,V2")
        for overrides in (ladder.points if name != "none" else ({},)):
            for seed in seeds:
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


def suite_ladder(defense: str, suite: str, profile: str) -> Ladder | None:
    """The ladder a frontier runs for ``defense`` by default: the suite profile's, else the defense's own."""
    return _ladder(defense, SUITES.get(suite)().profile(profile).ladders)


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
