"""What a board cost to compute, from its records' stage timings (``RunRecord.timings``, seconds).

One row per attack (and control): the number of runs, their summed ``total`` (thread-hours when the
runs used one thread each, as the full board's do) and mean, and the mean seconds of every stage the
runs timed (``target``, ``prior:<name>``, ``attack``, ``attack/<stage>``, ``evaluate``, ...). A
stage built once and reused from the cache costs its full time in the run that built it and almost
nothing in the others. Targets and priors that a sweep built in its own tasks are in no record: the
sweep logs them (:func:`mibench.sweep.record_task_cost`), and they are rows of their own here
(``target (sweep task)``, ``prior <name> (sweep task)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..records import RunRecord

TOTAL = "total"
LABEL = " row"  # the grouping column (a timing may be named "attack")


def costs(records: Iterable[tuple[str, RunRecord]], tasks: Iterable[dict] = ()) -> pd.DataFrame:
    """The per-attack cost table of the records (and of a sweep's logged ``tasks``), rows sorted by
    summed total, largest first."""
    rows = []
    for _, rec in records:
        label = rec.spec["attack"] + (" (control)" if rec.control else "")
        rows.append({LABEL: label, **{k: float(v) for k, v in rec.timings.items()}})
    for task in tasks:
        label = ("target" if task["kind"] == "target" else f"prior {task['prior']}") + " (sweep task)"
        rows.append({LABEL: label, TOTAL: float(task["seconds"])})
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


def read_tasks(path: Path) -> list[dict]:
    """The lines of a sweep's task log (none when it has none)."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
