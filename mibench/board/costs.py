"""What a board cost to compute, from its records' stage timings (``RunRecord.timings``, seconds).

One row per attack (and control): the number of runs, their summed ``total`` (thread-hours when the
runs used one thread each, as the full board's do) and mean, and the mean seconds of every stage the
runs timed (``target``, ``prior:<name>``, ``attack``, ``attack/<stage>``, ``evaluate``, ...). A
stage built once and reused from the cache costs its full time in the run that built it and almost
nothing in the others; targets and priors that a sweep built in its own tasks appear in no record.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from ..records import RunRecord

TOTAL = "total"
LABEL = " row"  # the grouping column (a timing may be named "attack")


def costs(records: Iterable[tuple[str, RunRecord]]) -> pd.DataFrame:
    """The per-attack cost table of the records, rows sorted by summed total, largest first."""
    rows = []
    for _, rec in records:
        label = rec.spec["attack"] + (" (control)" if rec.control else "")
        rows.append({LABEL: label, **{k: float(v) for k, v in rec.timings.items()}})
    if not rows:
        return pd.DataFrame(columns=["attack", "runs", "total_h", "mean_total_s"])
    frame = pd.DataFrame(rows)
    stages = [c for c in frame.columns if c not in (LABEL, TOTAL)]
    grouped = frame.groupby(LABEL)
    out = pd.DataFrame({"runs": grouped.size(), "total_h": grouped[TOTAL].sum() / 3600,
                        "mean_total_s": grouped[TOTAL].mean()})
    for stage in stages:
        out[f"mean {stage} s"] = grouped[stage].mean()
    out = out.sort_values("total_h", ascending=False).rename_axis("attack").reset_index()
    summed = {"attack": "all", "runs": int(out["runs"].sum()), "total_h": float(out["total_h"].sum()),
              "mean_total_s": float(frame[TOTAL].mean())}
    return pd.concat([out, pd.DataFrame([summed])], ignore_index=True).round(3)
