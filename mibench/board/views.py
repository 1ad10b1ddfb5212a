"""Views of a board: the default-strength rows, the defense x attack pivot (cells that do not beat
the floor marked), the worst case over attacks ranked with ties, the per-class breakdown.

Every view takes the metric from the :class:`~mibench.board.schema.BoardSchema` (default: the
primary metric) and reads its direction from there: the worst case of a defense is the attack that
leaks the most, the highest value of a metric where higher leaks more, the lowest of one where
lower does (a KNN distance).

Ranks with ties: a defense's rank is 1 + the number of defenses whose worst case is *told apart*
as more private, i.e. whose 95 % interval (:mod:`mibench.board.intervals`) lies wholly on the
private side of this defense's interval, with no overlap (the rule of the LMSYS Chatbot Arena
leaderboard). Defenses whose intervals overlap cannot be told apart and share a rank; with equal
values and no intervals this is competition ranking ("1, 1, 3").

The floor: the control row of a control-only attack (``Attack.control_only``, the blank image),
whose score no defense can change. A pivot cell whose 95 % interval lies wholly at or on the
private side of the floor's mean is marked ``≤ floor``; one whose interval contains it ``≈ floor``:
neither beats the control. A cell without an interval is compared by its mean.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from ..records import RunRecord
from .render import cell
from .schema import HI, LABEL, LO, SD, UTILITY, BoardSchema, MetricColumn, present

log = logging.getLogger(__name__)

CONTROL = "(control)"
WORST_CASE_NOTE = ("attacks k/N: the defense met k of the board's N attacks; a defense that missed some ranks after "
                   "those that met them all (`mibench sweep` fills the grid)")
TIE_NOTE = ("rank: 1 + the number of defenses told apart as more private, whose worst case's 95 % interval lies wholly "
            "on the private side of this one's (no overlap); defenses that cannot be told apart share a rank")
AT_FLOOR, NEAR_FLOOR = "≤ floor", "≈ floor"


def default_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows run with every parameter at the suite's values (no frontier point, no ``--set``):
    those whose config hash is the one ``mibench run --defense D --attack A`` resolves today. Where
    no row of a defense and attack has it (a board of an earlier protocol: other versions give
    other hashes whatever the parameters), the rows whose defense parameters equal today's defaults
    on every parameter they had and whose attack parameters are the ones the board ran that attack
    with most often (its sweep's: today's defaults may have moved since, as PLG-MI's GAN budget did)."""
    from ..errors import MibenchError
    from ..spec import resolve

    if not len(frame):
        return frame
    resolved: dict[tuple, object] = {}  # one resolution per (suite, defense, attack, profile, control)

    def key(row: pd.Series) -> tuple:
        return row["suite"], row["defense"], row["attack"], row["profile"], bool(row["control"])

    def spec(row: pd.Series):
        if key(row) not in resolved:
            try:
                resolved[key(row)] = resolve(*key(row)[:4], control=key(row)[4])
            except MibenchError as exc:  # a component not registered here, or failing to load
                log.warning("%s x %s: left out of the views of default rows: %s", row["defense"], row["attack"], exc)
                resolved[key(row)] = None
        return resolved[key(row)]

    def same_params(row_params: str, defaults: dict) -> bool:
        had = dict(item.split("=", 1) for item in str(row_params).split(";") if "=" in item)
        return all(k in defaults and str(defaults[k]) == v for k, v in had.items())

    exact = frame.apply(lambda r: spec(r) is not None and spec(r).config_hash == r["config_hash"], axis=1)
    has_exact = {key(r) for _, r in frame[exact].iterrows()}
    usual: dict[tuple, str] = {}  # (attack, control) -> the attack parameters the board ran most

    def usual_attack_params(row: pd.Series) -> str:
        group = (row["attack"], row["control"])
        if group not in usual:
            same = frame[(frame["attack"] == row["attack"]) & (frame["control"] == row["control"])]
            usual[group] = same["attack_params"].astype(str).value_counts().index[0]
        return usual[group]

    like = frame.apply(lambda r: key(r) not in has_exact and spec(r) is not None
                       and same_params(r["defense_params"], spec(r).defense_params)
                       and str(r["attack_params"]) == usual_attack_params(r), axis=1)
    return frame[exact | like]


def _leak_interval(row: pd.Series, m: MetricColumn, prefix: str = "") -> tuple[float, float]:
    """The row's 95 % interval of ``m`` as leakage (``sign * value``, higher leaks more), low end
    first; the mean at both ends where the row has no interval."""
    col = prefix + m.name
    ends = [row.get(col + LO, math.nan), row.get(col + HI, math.nan)]
    if any(pd.isna(e) for e in ends):
        ends = [row[col], row[col]]
    return tuple(sorted(m.sign * float(e) for e in ends))


def floor(frame: pd.DataFrame, metric: MetricColumn) -> tuple[str, float] | None:
    """(attack, mean) of the control-only attack's default control row that leaks the most on
    ``metric``; None when the board has no such row."""
    from ..errors import MibenchError
    from ..registries import ATTACKS

    def control_only(attack: str) -> bool:
        try:
            return bool(ATTACKS.get(attack).control_only)
        except MibenchError:
            return False

    rows = default_rows(frame)
    rows = rows[rows["control"].astype(bool) & rows["attack"].map(control_only)].dropna(subset=[metric.name])
    if rows.empty:
        return None
    row = rows.loc[(metric.sign * rows[metric.name]).idxmax()]
    return row["attack"], float(row[metric.name])


def floor_mark(row: pd.Series, metric: MetricColumn, floor_mean: float) -> str:
    """``≤ floor``, ``≈ floor`` or "" (the cell beats the floor, or has no value)."""
    if pd.isna(row[metric.name]):
        return ""
    lo, hi = _leak_interval(row, metric)
    level = metric.sign * floor_mean
    return AT_FLOOR if hi <= level else NEAR_FLOOR if lo <= level else ""


def floor_note(metric: MetricColumn, found: tuple[str, float]) -> str:
    attack, mean = found
    return (f"{AT_FLOOR}: the cell's 95 % interval lies wholly at or {metric.private_side} than the mean of the "
            f"{attack} control ({mean:.4g}); {NEAR_FLOOR}: the interval contains it; neither beats the control")


def pivot(frame: pd.DataFrame, schema: BoardSchema, metric: str | None = None) -> pd.DataFrame:
    """Defense x attack of ``metric`` (cells as :func:`~mibench.board.render.cell`, marked against
    the floor) at the default strengths; the attacks' control rows as a last row ``(control)``."""
    m = schema.metric(metric)
    rows = default_rows(frame)
    found = floor(frame, m)
    cells = {}
    for _, r in rows.iterrows():
        mark = floor_mark(r, m, found[1]) if found and not r["control"] else ""
        key = (r["defense"] if not r["control"] else CONTROL, r["attack"])
        cells[key] = cell(r, m.name) + (f" {mark}" if mark else "")
    defenses = sorted({d for d, _ in cells if d != CONTROL}, key=lambda d: (d != "none", d))
    if any(d == CONTROL for d, _ in cells):
        defenses.append(CONTROL)
    attacks = sorted({a for _, a in cells})
    return pd.DataFrame([[cells.get((d, a), "") for a in attacks] for d in defenses],
                        index=pd.Index(defenses, name="defense"), columns=attacks)


def tied_ranks(intervals: list[tuple[float, float]], groups: list[int]) -> list[int]:
    """Rank of each entry: 1 + the entries of an earlier group + those of its group whose leakage
    interval ends below where this entry's begins (told apart as more private)."""
    return [1 + sum(g < gi or (g == gi and hi < lo_i) for (_, hi), g in zip(intervals, groups))
            for (lo_i, _), gi in zip(intervals, groups)]


def worst_case(frame: pd.DataFrame, schema: BoardSchema, metric: str | None = None) -> pd.DataFrame:
    """Per defense (default strength): natural accuracy, the attack that leaks the most on ``metric``
    and its value (with sd and 95 % interval where the board has them), ranked with ties from the
    most private down (RobustBench ranks by the worst case over attacks). ``attacks`` is "k/N": the
    defense met k of the N attacks on the board; one that missed some ranks after every defense
    that met them all, since its worst case may not be worst yet."""
    m = schema.metric(metric)
    worst_col = f"worst_{m.name}"
    rows = default_rows(frame)
    rows = rows[~rows["control"].astype(bool)].dropna(subset=[m.name])  # NaN: the metric could not be computed
    total = rows["attack"].nunique()
    out = []
    for defense, group in rows.groupby("defense"):
        worst = group.loc[(m.sign * group[m.name]).idxmax()]
        out.append({"defense": defense, UTILITY: group[UTILITY].mean(), worst_col: worst[m.name],
                    **{worst_col + s: worst.get(m.name + s, math.nan) for s in (SD, LO, HI)},
                    "worst_attack": worst["attack"], "attacks": f"{group['attack'].nunique()}/{total}",
                    "_missing": total - group["attack"].nunique()})
    columns = ["defense", UTILITY, worst_col, *(worst_col + s for s in (SD, LO, HI)), "worst_attack", "attacks"]
    table = pd.DataFrame(out, columns=[*columns, "_missing"])
    intervals = [_leak_interval(r, m, "worst_") for _, r in table.iterrows()]
    table.insert(0, "rank", tied_ranks(intervals, table["_missing"].tolist()))
    table["_leak"] = m.sign * table[worst_col]
    table = table.sort_values(["_missing", "rank", "_leak"], kind="stable").drop(columns=["_missing", "_leak"])
    return table.reset_index(drop=True)


def per_class(records: list[tuple[str, RunRecord]], metric: str) -> pd.DataFrame:
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
        label = dict(zip(LABEL, (first.spec["defense"], first.strength, first.variant, first.spec["attack"],
                                 first.control)))
        rows.append({**label, "config_hash": config_hash, "n_seeds": len(recs), **by_class.to_dict()})
    columns = present(pd.DataFrame(rows, columns=LABEL), LABEL) + ["config_hash", "n_seeds", *sorted(classes, key=int)]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["control", "attack", "defense", "config_hash"], kind="stable").reset_index(drop=True)
