"""A board CSV against what its records build: the cells, columns and rows that differ.

Both sides are read as text (every cell a string, empty where the CSV has nothing), so a cell
differs exactly when its printed value does. Rows are matched by ``config_hash``.
:meth:`BoardDiff.lost` lists what rebuilding the CSV from its records would throw away (a column
or row the records do not build, a cell whose value they do not give); :meth:`BoardDiff.lines`
lists every difference (also what the build would add), which ``leaderboard check`` reports.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

SHOWN = 12
"""Differences spelled out in an error message; the rest are counted."""


@dataclass
class BoardDiff:
    foreign_columns: list[str] = field(default_factory=list)  # in the CSV, not built from the records
    missing_columns: list[str] = field(default_factory=list)  # built, not in the CSV
    foreign_rows: list[str] = field(default_factory=list)  # config hashes in the CSV only
    missing_rows: list[str] = field(default_factory=list)  # config hashes the records build, not in the CSV
    cells: list[tuple[str, str, str, str]] = field(default_factory=list)  # (config_hash, column, committed, built)

    def lost(self) -> list[str]:
        """What rebuilding the CSV from its records would throw away, one line each."""
        return ([f"column {c!r} (not built from the records)" for c in self.foreign_columns]
                + [f"row {h} (no record builds it)" for h in self.foreign_rows]
                + [f"row {h} column {c!r}: committed {a!r}, built {b!r}" for h, c, a, b in self.cells])

    def lines(self) -> list[str]:
        """Every difference, one line each."""
        return (self.lost() + [f"column {c!r} missing (the records build it)" for c in self.missing_columns]
                + [f"row {h} missing (the records build it)" for h in self.missing_rows])

    def __bool__(self) -> bool:
        return bool(self.lines())


def _table(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def diff(committed: str, built: str) -> BoardDiff:
    """The differences between the ``committed`` CSV text and the ``built`` one."""
    out = BoardDiff()
    if committed == built:
        return out
    old, new = _table(committed), _table(built)
    out.foreign_columns = [c for c in old.columns if c not in new.columns]
    out.missing_columns = [c for c in new.columns if c not in old.columns]
    old_rows = dict(zip(old["config_hash"], old.to_dict("records")))
    new_rows = dict(zip(new["config_hash"], new.to_dict("records")))
    out.foreign_rows = [h for h in old_rows if h not in new_rows]
    out.missing_rows = [h for h in new_rows if h not in old_rows]
    shared = [c for c in new.columns if c in old.columns]
    for h, row in old_rows.items():
        if h in new_rows:
            out.cells += [(h, c, row[c], new_rows[h][c]) for c in shared if row[c] != new_rows[h][c]]
    return out


def summary(lines: list[str]) -> str:
    """The first :data:`SHOWN` lines, then how many more."""
    more = len(lines) - SHOWN
    return "\n- " + "\n- ".join(lines[:SHOWN]) + (f"\n- ... and {more} more" if more > 0 else "")
