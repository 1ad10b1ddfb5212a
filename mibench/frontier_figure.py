"""The privacy-utility frontier figure (``<board>-frontier.png``, drawn by ``mibench frontier``).

Matplotlib (:func:`figure`): one panel per headline metric the board's records declare
(the primary first: :class:`~mibench.board.schema.BoardSchema`), natural accuracy on x. The x axis
is the test error on a reversed log scale, ticked as accuracy, so the high-utility end where most
defenses sit (99.0 to 99.6 %) is as wide as 90 to 96 %. One line per defense through its points in
ladder order (weakest first, :func:`ladder_order`), error bars = the standard deviation over
seeds, ``none`` as a star, the Pareto-optimal points on the primary metric (no other point has both
higher natural accuracy and less leakage, in the metric's declared direction) circled, the attack's
control rows (the chance level) as dashed lines and the blank control's floor
(:func:`mibench.board.views.floor`) as a dotted line named "blank control (floor)", in every panel
of a metric it has a value for. Each point is labelled with its strength, placed by
:mod:`mibench.labels` so that no two labels overlap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from .board.schema import SD, UTILITY, BoardSchema
from .board.views import floor
from .errors import ConfigError, MibenchError
from .frontier import suite_ladder


def pareto(frame: pd.DataFrame, leak: str, higher_leaks_more: bool = True, utility: str = UTILITY) -> pd.Series:
    """True for rows that no other row dominates (utility >= and leakage <=, one of them strictly);
    the leakage is ``frame[leak]``, negated where a lower value leaks more."""
    u, l = frame[utility].to_numpy(), frame[leak].to_numpy() * (1 if higher_leaks_more else -1)
    flags = [not any((u2 >= u1 and l2 <= l1) and (u2 > u1 or l2 < l1) for u2, l2 in zip(u, l)) for u1, l1 in zip(u, l)]
    return pd.Series(flags, index=frame.index)


def plot(board: pd.DataFrame, schema: BoardSchema, attack: str, path: Path, title: str) -> Path:
    """Draw the frontier of ``attack``'s rows of ``board`` into ``path`` (PNG), a panel per headline
    metric of ``schema``."""
    import matplotlib.pyplot as plt

    fig = figure(board, schema, attack, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(path)
    return path


def figure(board: pd.DataFrame, schema: BoardSchema, attack: str, title: str):
    """The frontier figure of ``attack``'s rows of ``board`` (a matplotlib Figure, not saved)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = board[(board["attack"] == attack)]
    if "variant" in rows.columns:  # a --set variant is not a point of its defense's ladder
        rows = rows[rows["variant"].fillna("").astype(str) == ""]
    control = rows[rows["control"].astype(str) == "True"]
    rows = rows[rows["control"].astype(str) != "True"]
    if rows.empty:
        raise ConfigError(f"the board has no {attack!r} rows to draw a frontier from")
    primary = schema.metric()
    optimal = pareto(rows, primary.name, primary.higher_is_better)
    panels = [schema.metric(name) for name in schema.names() if name in rows.columns]
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(8.0 * ncols, 6.0 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    lines, levels = {}, {}
    for ax, column in zip(axes.flat, panels):
        metric = column.name
        for defense, group in rows.groupby("defense", sort=True):
            group = ladder_order(group)
            error = _error(group)
            xerr = _sd(group, UTILITY)
            if xerr is not None:
                xerr = [[min(e, 0.9 * x) for e, x in zip(xerr, error)], xerr]  # a log axis: stay above 0
            style = dict(marker="*", markersize=14, linestyle="none") if defense == "none" else \
                dict(marker="o", markersize=5)
            lines[defense] = ax.errorbar(error, group[metric], xerr=xerr, yerr=_sd(group, metric),
                                         capsize=3, label=defense, linewidth=1.2, **style)
        best = rows[optimal]
        lines["pareto"] = ax.scatter(_error(best), best[metric], s=150, facecolors="none", edgecolors="black",
                                     label=f"Pareto-optimal on {primary.name}")
        levels[ax] = [(f"{r['attack']} control (chance level)", r[metric], dict(color="grey", linestyle="--"))
                      for _, r in control.iterrows()]
        found = floor(board, column)
        if found:
            levels[ax].append((FLOOR_LABEL, found[1], dict(color="black", linestyle=":")))
        for text, level, style in levels[ax]:
            lines[text] = ax.axhline(level, linewidth=1.2, label=text, **style)
        _accuracy_axis(ax, _error(rows))
        ax.set_ylabel(f"{metric} ({column.private_side} = more private)")
        ax.grid(alpha=0.3, which="major")
        ax.set_title(f"{metric} against {attack}", fontsize=10)
    fig.suptitle(title)
    fig.legend(lines.values(), [h.get_label() for h in lines.values()], loc="lower center",
               ncol=min(len(lines), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.canvas.draw()  # labels are placed once the layout is final
    for ax, column in zip(axes.flat, panels):
        _label(ax, rows, column.name, levels[ax])
    return fig


FLOOR_LABEL = "blank control (floor)"
ACCURACY_TICKS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.9925, 0.995, 0.9965, 0.9975, 0.998,
                  0.999, 0.9999)
SMALLEST_ERROR = 1e-4
"""Where a point of 100 % natural accuracy is drawn (a log axis has no 0): at 99.99 %."""


def _error(rows: pd.DataFrame) -> pd.Series:
    """The x of each row: its test error, 1 - natural accuracy, at least :data:`SMALLEST_ERROR`."""
    return (1 - rows[UTILITY]).clip(lower=SMALLEST_ERROR)


def _accuracy_axis(ax, error: pd.Series) -> None:
    """x: the test error on a log axis, reversed, ticked as natural accuracy (the high-utility end
    stretched: 99.0 to 99.6 % takes as much room as 90 to 96 %)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = float(error.min()), float(error.max())
    ax.set_xscale("log")
    ax.set_xlim(hi * 1.15, lo / 1.15)  # reversed: more accurate to the right
    ticks = [1 - a for a in ACCURACY_TICKS if lo / 1.15 <= 1 - a <= hi * 1.15]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda e, _: f"{100 * (1 - e):.4g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("natural accuracy on private_test, % (log scale of the error: the high-utility end stretched)")


def _label(ax, rows: pd.DataFrame, metric: str, levels: list) -> None:
    """Each horizontal line's name at its left end, then each ladder point's strength, none overlapping."""
    from .labels import Label, place

    renderer = ax.figure.canvas.get_renderer()
    obstacles = []
    for text, level, _ in levels:  # just above the line, else just below
        for dy, va in ((2, "bottom"), (-2, "top")):
            ann = ax.annotate(text, (0, level), xycoords=("axes fraction", "data"), xytext=(4, dy),
                              textcoords="offset points", va=va, fontsize=7, color="0.25")
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(o) for o in obstacles):
                break
            ann.remove()
        obstacles.append(box)
    labels = []
    for defense, group in rows.groupby("defense", sort=True):
        names = point_names(group)
        labels += [Label(names[i], e, r[metric]) for (i, r), e in zip(group.iterrows(), _error(group)) if names[i]]
    place(ax, labels, obstacles)


def point_names(group: pd.DataFrame) -> dict:
    """Each row's label: its strength (``beta=0.1``), less the knob fields that an earlier field
    already determines within the defense (BiDO's lambda_y moves with lambda_x)."""
    fields = {i: list(_params(s).items()) for i, s in group["strength"].items()}
    keys = next((list(dict(f)) for f in fields.values() if f), [])
    kept = []
    for key in keys:
        seen: dict = {}
        determined = all(seen.setdefault(tuple(dict(f).get(k) for k in kept), dict(f).get(key)) == dict(f).get(key)
                         for f in fields.values())
        if not (kept and determined):
            kept.append(key)
    return {i: ";".join(f"{k}={v}" for k, v in f if k in kept) for i, f in fields.items()}


def ladder_order(group: pd.DataFrame) -> pd.DataFrame:
    """One defense's rows in the order of its ladder (weakest first: the suite profile's ladder, else
    the defense's own); rows off the ladder (``--ladder`` values of one's own) follow, by their
    strength text. A defense no longer installed keeps the order of natural accuracy."""
    first = group.iloc[0]
    try:
        ladder = suite_ladder(first["defense"], first["suite"], first["profile"])
    except MibenchError:
        ladder = None
    if ladder is None:
        return group.sort_values(UTILITY, ascending=False, kind="stable")
    rank = [next((k for k, point in enumerate(ladder.points) if _matches(point, _params(p))), len(ladder.points))
            for p in group["defense_params"]]
    key = pd.DataFrame({"rank": rank, "strength": group["strength"].astype(str)}, index=group.index)
    return group.loc[key.sort_values(["rank", "strength"], kind="stable").index]


def _params(text: Any) -> dict[str, str]:
    """``"beta=0.1;lr=0.01"`` (a board's parameter column) -> ``{"beta": "0.1", "lr": "0.01"}``."""
    return dict(p.split("=", 1) for p in str(text).split(";") if "=" in p)


def _matches(point: dict[str, Any], params: dict[str, str]) -> bool:
    return all(k in params and _same(params[k], v) for k, v in point.items())


def _same(text: str, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return text == str(value)
    try:
        return math.isclose(float(text), float(value), rel_tol=1e-9)
    except ValueError:
        return False


def _sd(group: pd.DataFrame, col: str):
    sd = col + SD
    return group[sd].fillna(0).to_numpy() if sd in group.columns else None
