"""``mibench leaderboard site --out DIR``: the boards as a static site (plain HTML and PNGs, no server).

Per board: the rows as a table sortable by any column (ranked by the suite's primary metric at
first), the defense x attack pivot, the defenses ranked by their worst case over attacks, the
frontier figure when the board has one, and for each row its reconstruction grids (one per seed,
kept beside the records in ``<board dir>/grids/<board>/``). ``index.html`` links the boards. Every
page reports in its ``<body>`` how many images loaded and how many script errors it saw
(``data-images-ok``, ``data-images-broken``, ``data-errors``): what the browser test reads.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pandas as pd

from .cache import atomic_write_text
from .leaderboard import WORST_CASE_NOTE, cell, per_class, pivot, read_board, read_records, worst_case

COLUMNS = ["defense", "strength", "attack", "control", "n_seeds", "natural_acc", "attack_acc_top1", "attack_acc_top5",
           "knn_dist", "fid", "attack_queries"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0 1.6em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
td:first-child, th:first-child { text-align: left; }
img.grid { max-width: 100%; border: 1px solid #ddd; }
img.thumb { height: 40px; vertical-align: middle; }
.note { color: #666; font-size: 12px; }
"""

SCRIPT = """
window.mibenchErrors = 0;
window.addEventListener('error', function () { window.mibenchErrors += 1; }, true);
function sortTable(table, col) {
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var dir = table.dataset.sortCol == col && table.dataset.sortDir == 'asc' ? 'desc' : 'asc';
  rows.sort(function (a, b) {
    var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
    var nx = parseFloat(x), ny = parseFloat(y);
    var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
    return dir == 'asc' ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
  table.dataset.sortCol = col; table.dataset.sortDir = dir;
}
window.addEventListener('load', function () {
  document.querySelectorAll('table.sortable th').forEach(function (th, i) {
    th.addEventListener('click', function () { sortTable(th.closest('table'), th.cellIndex); });
  });
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesOk = ok;
  document.body.dataset.imagesBroken = imgs.length - ok;
  document.body.dataset.errors = window.mibenchErrors;
});
"""


def build_site(board_dir: Path, boards: list[str], out: Path) -> Path:
    """Write ``out/index.html`` and one page per board of ``board_dir``; returns the index."""
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    for board in boards:
        atomic_write_text(out / f"{board}.html", board_page(Path(board_dir), board, out))
    items = "".join(f'<li><a href="{html.escape(b)}.html">{html.escape(b)}</a></li>' for b in boards)
    atomic_write_text(out / "index.html", _page("mibench leaderboards", f"<h1>mibench leaderboards</h1><ul>{items}</ul>"))
    return out / "index.html"


def board_page(board_dir: Path, board: str, out: Path) -> str:
    frame = read_board(board_dir / f"{board}.csv")
    primary = "attack_acc_top1"
    frame = frame.sort_values(["control", primary], kind="stable").reset_index(drop=True)
    parts = [f"<h1>{html.escape(board)}</h1>",
             f'<p class="note">{len(frame)} rows, each the mean ± sd over its seeds; generated from the records in '
             f"records/{html.escape(board)}/. Click a column to sort.</p>",
             "<h2>Rows</h2>", _rows_table(frame, board_dir, board, out)]
    grid = pivot(frame)
    if len(grid):
        parts += ["<h2>Attack top-1 accuracy: defense x attack (default strengths)</h2>",
                  _table(grid.reset_index(), ["defense", *grid.columns], sortable=False)]
        ranked = worst_case(frame)
        parts += ["<h2>Defenses ranked by their worst case over attacks (lower: more private)</h2>",
                  _table(ranked, [c for c in ranked.columns if not c.endswith("_sd")]),
                  f'<p class="note">{html.escape(WORST_CASE_NOTE)}.</p>']
    by_class = per_class(read_records(board_dir, board))
    if len(by_class):
        parts += ["<h2>Attack top-1 accuracy by attacked class (mean over seeds)</h2>",
                  _table(by_class, [c for c in by_class.columns if c != "config_hash"]),
                  '<p class="note">Rows whose records predate the per-class breakdown are not listed.</p>']
    frontier = board_dir / f"{board}-frontier.png"
    if frontier.is_file():
        shutil.copyfile(frontier, out / "img" / frontier.name)
        parts += ["<h2>Privacy-utility frontier</h2>", f'<img class="grid" src="img/{frontier.name}" alt="frontier">']
    return _page(f"mibench: {board}", "\n".join(parts))


def _rows_table(frame: pd.DataFrame, board_dir: Path, board: str, out: Path) -> str:
    cols = [c for c in COLUMNS if c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "<th>grids (one per seed)</th>"
    body = []
    for _, row in frame.iterrows():
        cells = "".join(_td(row, c) for c in cols)
        body.append(f'<tr class="row">{cells}<td>{_grids(row, board_dir, board, out)}</td></tr>')
    return f'<table class="sortable board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _grids(row: pd.Series, board_dir: Path, board: str, out: Path) -> str:
    links = []
    for seed in str(row["seeds"]).split():
        name = f"{row['config_hash']}-s{seed}.png"
        source = board_dir / "grids" / board / name
        if source.is_file():
            target = out / "img" / board / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            links.append(f'<a href="img/{board}/{name}"><img class="thumb" src="img/{board}/{name}" '
                         f'alt="seed {seed}" title="seed {seed}"></a>')
    return " ".join(links) or '<span class="note">none kept</span>'


def _td(row: pd.Series, col: str) -> str:
    value = row[col]
    sort_value = "" if (isinstance(value, float) and pd.isna(value)) else value
    return f'<td data-value="{html.escape(str(sort_value))}">{html.escape(cell(row, col))}</td>'


def _table(frame: pd.DataFrame, cols: list[str], sortable: bool = True) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_td(row, c) for c in cols) + "</tr>" for _, row in frame.iterrows())
    attrs = ' class="sortable"' if sortable else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body>\n{body}\n</body></html>\n")
