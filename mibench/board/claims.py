"""The papers' claims (:mod:`mibench.claims`) re-tested on a board, each as contrasts between cells.

A defense's :class:`~mibench.claims.Defends` becomes, for every row it is about and every attack it
was made against, the contrast "that row against ``none``'s default row under the same attack"; an
attack's :class:`~mibench.claims.Stronger`, for every defense at its default strength, "this
attack's row against the other attack's". Rows are matched among the board's non-control rows; a
ladder point counts where it ran the attack with the parameters of that attack's default rows.

Each contrast reports the difference of the two cells' means (left minus right, in the metric's
units) and its 95 % interval: the percentile interval of the difference of independent bootstrap
draws of the two means (:func:`mibench.board.intervals.resample_means`, the cells' own two-stage
bootstrap, each side with its own generator), and for a quantified claim the relative drop of the
leakage, ``sign * (right - left) / |right|``, over the same draws. The verdict:

- ``holds``: the interval lies wholly on the claimed side (for a quantified claim: the drop's
  interval wholly at or above the claimed drop, and the natural-accuracy cost at most the claimed
  cost);
- ``reversed`` (``fails`` for a quantified claim): wholly on the other side (the drop's interval
  wholly below the claimed drop, or the cost above it);
- ``cannot tell``: the interval contains the boundary, or a cell has no interval (one run of a
  metric that is no share of the reconstructions).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from ..claims import Defends, Stronger
from ..errors import MibenchError
from ..records import RunRecord
from .intervals import LEVEL, resample_means
from .schema import BoardSchema, MetricColumn
from .views import default_rows

HOLDS, REVERSED, FAILS, UNKNOWN = "holds", "reversed", "fails", "cannot tell"
NONE = "none"
COLUMNS = ["claim", "by", "row", "versus", "left", "right", "difference", "difference_lo", "difference_hi",
           "relative_drop", "relative_drop_lo", "relative_drop_hi", "accuracy_cost", "verdict"]
SHOWN = ["by", "row", "versus", "left", "right", "difference", "relative_drop", "accuracy_cost", "verdict"]
"""The columns a contrast is printed with (the intervals go in their cells: :func:`mibench.board.render.cell`)."""
METHOD = (f"difference: left - right, with its {LEVEL * 100:.0f} % percentile interval over independent bootstrap "
          "draws of the two cells' means (each cell's own resampling); relative drop: of the leakage, sign x (right - "
          "left) / |right|; accuracy cost: the right row's natural accuracy minus the left's; holds: the interval "
          "wholly on the claimed side; reversed/fails: wholly on the other; cannot tell: neither")


def retest(frame: pd.DataFrame, records: Iterable[tuple[str, RunRecord]], schema: BoardSchema,
           metric: str | None = None) -> pd.DataFrame:
    """One row per contrast of every claim that the components on the board declare (see the
    module docstring): the defenses' (alphabetically), then the attacks', each component's claims
    in the order it declares them."""
    from ..registries import ATTACKS, DEFENSES

    m = schema.metric(metric)
    by_config: dict[str, list[RunRecord]] = {}
    for _, rec in records:
        by_config.setdefault(rec.config_hash, []).append(rec)
    rows = frame[~frame["control"].astype(bool)]
    defaults = default_rows(rows)
    default_of = {(r["defense"], r["attack"]): r["config_hash"] for _, r in defaults.iterrows()}
    usual = {r["attack"]: str(r["attack_params"]) for _, r in defaults.iterrows()}
    out = []

    def add(claim, by: str, left: pd.Series, right_hash: str | None, versus: str):
        if right_hash is None or left["config_hash"] not in by_config or right_hash not in by_config:
            return
        out.append({"claim": claim.text, "by": by, "row": _label(left), "versus": versus,
                    **_contrast(by_config[left["config_hash"]], by_config[right_hash], m, claim)})

    for name in sorted(rows["defense"].unique(), key=lambda d: (d != NONE, d)):
        for claim in _claims(DEFENSES, name):
            if not isinstance(claim, Defends):
                continue
            mine = rows[rows["defense"] == name]
            if claim.where is None:
                mine = mine[mine["config_hash"].isin(defaults["config_hash"])]
            else:
                mine = mine[[claim.where(by_config[h][0].spec.get("defense_params", {})) if h in by_config else False
                             for h in mine["config_hash"]]]
                mine = mine[mine["attack_params"].astype(str) == mine["attack"].map(usual)]
            for _, row in mine.sort_values(["attack", "defense_params"]).iterrows():
                if claim.against and row["attack"] not in claim.against:
                    continue
                add(claim, name, row, default_of.get((NONE, row["attack"])), f"{NONE} x {row['attack']}")
    for name in sorted(rows["attack"].unique()):
        for claim in _claims(ATTACKS, name):
            if not isinstance(claim, Stronger):
                continue
            for _, row in defaults[defaults["attack"] == name].sort_values("defense").iterrows():
                add(claim, name, row, default_of.get((row["defense"], claim.than)), f"{row['defense']} x {claim.than}")
    return pd.DataFrame(out, columns=COLUMNS)


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as printed: the relative drop and the accuracy cost blank where a claim has none."""
    table = table.copy()
    for column in ("relative_drop", "accuracy_cost"):
        table[column] = table[column].astype(object).where(table[column].notna(), "")
    return table


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per claim: how many of its contrasts hold, go the other way or cannot be told."""
    if table.empty:
        return pd.DataFrame(columns=["claim", "by", "contrasts", HOLDS, "other way", UNKNOWN])
    out = []
    for (claim, by), group in table.groupby(["claim", "by"], sort=False):
        verdicts = group["verdict"]
        out.append({"claim": claim, "by": by, "contrasts": len(group), HOLDS: int((verdicts == HOLDS).sum()),
                    "other way": int(verdicts.isin([REVERSED, FAILS]).sum()), UNKNOWN: int((verdicts == UNKNOWN).sum())})
    return pd.DataFrame(out)


def _claims(registry, name: str) -> tuple:
    try:
        return tuple(registry.get(name).claims)
    except MibenchError:  # a component no longer registered here
        return ()


def _ends(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def _label(row: pd.Series) -> str:
    strength = row.get("strength", "")
    return f"{row['defense']}" + (f" ({strength})" if isinstance(strength, str) and strength else "") + f" x {row['attack']}"


def _contrast(left: list[RunRecord], right: list[RunRecord], m: MetricColumn, claim: Defends | Stronger) -> dict:
    a, b = (float(np.mean([float(r.metrics.get(m.name, math.nan)) for r in recs])) for recs in (left, right))
    draws_a = resample_means(left, m, np.random.default_rng([0, 1]))
    draws_b = resample_means(right, m, np.random.default_rng([0, 2]))
    both = draws_a is not None and draws_b is not None
    diff_lo, diff_hi = _ends(draws_a - draws_b) if both else (math.nan, math.nan)
    row = {"left": a, "right": b, "difference": a - b, "difference_lo": diff_lo, "difference_hi": diff_hi,
           "relative_drop": math.nan, "relative_drop_lo": math.nan, "relative_drop_hi": math.nan,
           "accuracy_cost": (float(np.mean([r.natural_acc for r in right]) - np.mean([r.natural_acc for r in left]))
                             if isinstance(claim, Defends) else math.nan)}
    # leakage difference (left minus right), > 0 where left leaks more; its claimed sign
    leak_lo, leak_hi = sorted((m.sign * diff_lo, m.sign * diff_hi))
    claimed = claim.direction if isinstance(claim, Defends) else 1
    if math.isnan(diff_lo):
        row["verdict"] = UNKNOWN
    elif not (isinstance(claim, Defends) and claim.quantified):
        on_side = (leak_lo > 0) if claimed > 0 else (leak_hi < 0)
        other = (leak_hi < 0) if claimed > 0 else (leak_lo > 0)
        row["verdict"] = HOLDS if on_side else REVERSED if other else UNKNOWN
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            drops = m.sign * (draws_b - draws_a) / np.abs(draws_b)
        row["relative_drop"] = m.sign * (b - a) / abs(b) if b else math.nan
        row["relative_drop_lo"], row["relative_drop_hi"] = _ends(drops) if np.isfinite(drops).all() else (math.nan,) * 2
        cost_ok = claim.max_accuracy_cost is None or row["accuracy_cost"] <= claim.max_accuracy_cost
        if math.isnan(row["relative_drop_lo"]):
            row["verdict"] = UNKNOWN if cost_ok else FAILS
        elif not cost_ok or row["relative_drop_hi"] < claim.relative_drop:
            row["verdict"] = FAILS
        else:
            row["verdict"] = HOLDS if row["relative_drop_lo"] >= claim.relative_drop else UNKNOWN
    return row
