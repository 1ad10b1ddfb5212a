"""A board cell and a view as text: what ``leaderboard show``, the README and docs tables and the site print."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import HI, LO, SD


def cell(row: pd.Series, col: str) -> str:
    """One cell as shown: numbers to 4 significant digits, then ``± sd`` where ``<col>_sd`` exists and
    ``[lo, hi]`` (the 95 % interval) where ``<col>_lo`` and ``<col>_hi`` do."""
    v = row[col]
    whole = isinstance(v, (int, np.integer)) and not isinstance(v, bool) and col + SD in row  # a metric written as "5"
    if not isinstance(v, float) and not whole:
        return str(v)
    text = f"{v:.4g}"
    if col + SD in row and pd.notna(row[col + SD]):
        text += f" ± {row[col + SD]:.2g}"
    if col + LO in row and pd.notna(row[col + LO]) and pd.notna(row[col + HI]):
        text += f" [{row[col + LO]:.3g}, {row[col + HI]:.3g}]"
    return text


def visible(columns: list[str]) -> list[str]:
    """``columns`` less the companions (``_sd``, ``_lo``, ``_hi``) of a column in the list: :func:`cell` shows them."""
    present = set(columns)
    return [c for c in columns if not any(c.endswith(s) and c[:-len(s)] in present for s in (SD, LO, HI))]


def markdown(frame: pd.DataFrame, columns: list[str]) -> str:
    """A Markdown table of ``frame``'s ``columns`` (cells as :func:`cell`), for the README and docs/findings.md."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for _, row in frame.iterrows()]
    return "\n".join(lines)
