"""The HTML of the static site (:mod:`mibench.site`): the page shell with its inline style and
script, tables, the heatmap and links. Everything is inline, nothing is fetched: the pages work
offline from ``file://``.

The script sorts a ``table.sortable`` by the clicked column, filters the rows table by defense and
attack (the ``<select>`` boxes, or ``#defense=NAME&attack=NAME`` in the address, which the boxes
then show) and reports in ``<body>`` how many images loaded and how many script errors it saw
(``data-images-ok``, ``data-images-broken``, ``data-errors``) and how many rows the filter shows
(``data-rows-shown``): what the browser test reads.
"""

from __future__ import annotations

import html
import math
import re
from typing import Callable, Iterable
from urllib.parse import quote_plus

import pandas as pd

from .board import cell

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
nav { font-size: 13px; margin-bottom: 1em; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.8em 0 1.6em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; }
table.sortable th { cursor: pointer; user-select: none; }
td:first-child, th:first-child, td.text { text-align: left; }
img.grid, img.figure { max-width: 100%; border: 1px solid #ddd; }
img.thumb { height: 40px; vertical-align: middle; }
.note { color: #666; font-size: 12px; max-width: 75em; }
.filter { margin: 0.5em 0; font-size: 13px; } .filter select { margin-right: 1em; }
table.heatmap td { min-width: 9em; }
td.floor { background-image: repeating-linear-gradient(45deg, rgba(0,0,0,.18) 0 2px, transparent 2px 7px);
           outline: 2px dashed #333; outline-offset: -3px; }
.legend { display: flex; align-items: center; gap: 0.6em; font-size: 12px; color: #444; margin-bottom: 0.5em; }
.legend .bar { width: 14em; height: 14px; border: 1px solid #aaa; }
.legend .swatch { width: 2.5em; height: 14px; display: inline-block; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }
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
function rowShown(row, want) {
  return Object.keys(want).every(function (k) { return !want[k] || row.dataset[k] == want[k]; });
}
function applyFilter() {
  var want = {};
  document.querySelectorAll('select[data-filter]').forEach(function (s) { want[s.dataset.filter] = s.value; });
  var shown = 0;
  document.querySelectorAll('table.filterable tbody tr').forEach(function (r) {
    r.hidden = !rowShown(r, want); if (!r.hidden) { shown += 1; }
  });
  document.body.dataset.rowsShown = shown;
  var parts = Object.keys(want).filter(function (k) { return want[k]; })
    .map(function (k) { return k + '=' + encodeURIComponent(want[k]); });
  history.replaceState(null, '', parts.length ? '#' + parts.join('&') : location.pathname + location.search);
}
window.addEventListener('load', function () {
  document.querySelectorAll('table.sortable th').forEach(function (th) {
    th.addEventListener('click', function () { sortTable(th.closest('table'), th.cellIndex); });
  });
  var asked = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var p = kv.split('='); if (p.length == 2) { asked[p[0]] = decodeURIComponent(p[1]); }
  });
  document.querySelectorAll('select[data-filter]').forEach(function (s) {
    if (asked[s.dataset.filter] !== undefined) { s.value = asked[s.dataset.filter]; }
    s.addEventListener('change', applyFilter);
  });
  if (document.querySelector('table.filterable')) { applyFilter(); }
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesOk = ok;
  document.body.dataset.imagesBroken = imgs.length - ok;
  document.body.dataset.errors = window.mibenchErrors;
});
"""

PRIVATE, LEAKY = (255, 247, 236), (179, 0, 0)
"""The heatmap's two ends: the cell that leaks least (pale) and the one that leaks most (dark red)."""


def esc(value) -> str:
    return html.escape(str(value))


def page(title: str, body: str, root: str = "") -> str:
    """A whole page; ``root`` is the relative path from the page to the site's top (``../../``)."""
    nav = f'<nav><a href="{root}index.html">mibench leaderboards</a><a href="{root}docs/index.html">documentation</a></nav>'
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body>\n{nav}\n{body}\n</body></html>\n")


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}.</p>'


def td(row: pd.Series, col: str, extra: str = "") -> str:
    """A cell shown as :func:`mibench.board.cell`, sorted by its raw value."""
    value = row[col]
    sort_value = "" if (isinstance(value, float) and pd.isna(value)) else value
    return f'<td data-value="{esc(sort_value)}"{extra}>{esc(cell(row, col))}</td>'


Cell = Callable[[pd.Series], str]


def table(frame: pd.DataFrame, cols: list[str], sortable: bool = True, css: str = "",
          row_attrs: Cell = lambda r: "", extra: dict[str, Cell] | None = None) -> str:
    """``frame``'s ``cols`` as a table; ``extra`` adds columns (header -> the cell's inner HTML)."""
    extra = extra or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in [*cols, *extra])
    body = []
    for _, row in frame.iterrows():
        cells = "".join(td(row, c) for c in cols) + "".join(f"<td class=\"text\">{f(row)}</td>" for f in extra.values())
        body.append(f"<tr{row_attrs(row)}>{cells}</tr>")
    classes = " ".join(c for c in ("sortable" if sortable else "", css) if c)
    attrs = f' class="{classes}"' if classes else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def filters(frame: pd.DataFrame, keys: Iterable[str]) -> str:
    """A ``<select>`` per key (``defense``, ``attack``) over its values in ``frame``, filtering the
    ``table.filterable`` of the page."""
    boxes = []
    for key in keys:
        options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(frame[key].astype(str).unique()))
        boxes.append(f'<label>{esc(key)} <select data-filter="{esc(key)}"><option value="">all</option>{options}'
                     f"</select></label>")
    return f'<div class="filter">Show only: {"".join(boxes)}</div>'


def heatmap(text: pd.DataFrame, leak: pd.DataFrame, marked: pd.DataFrame, low: str, high: str) -> str:
    """The pivot as a heatmap: each cell's text (``text``), its background by its leakage (``leak``:
    higher leaks more, the metric's direction already applied; NaN: no colour), hatched and outlined
    where ``marked`` (the cell does not beat the blank control). ``low`` and ``high`` name the
    legend's ends."""
    values = [v for v in leak.to_numpy().ravel() if isinstance(v, float) and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    rows = []
    for defense in text.index:
        cells = [f'<td class="text">{esc(defense)}</td>']
        for attack in text.columns:
            value = leak.loc[defense, attack]
            style = ""
            if isinstance(value, float) and math.isfinite(value):
                share = (value - lo) / (hi - lo) if hi > lo else 0.5
                rgb = [round(a + (b - a) * share) for a, b in zip(PRIVATE, LEAKY)]
                ink = "#fff" if share > 0.6 else "#222"
                style = f' style="background-color: rgb({rgb[0]}, {rgb[1]}, {rgb[2]}); color: {ink}"'
            css = ' class="floor"' if marked.loc[defense, attack] else ""
            cells.append(f"<td{css}{style}>{esc(text.loc[defense, attack])}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{esc(c)}</th>" for c in ["defense", *text.columns])
    gradient = f"linear-gradient(to right, rgb{PRIVATE}, rgb{LEAKY})"
    legend = (f'<div class="legend"><span>{esc(low)}</span><span class="bar" style="background: {gradient}"></span>'
              f'<span>{esc(high)}</span><span class="swatch" style="background-image: '
              f'repeating-linear-gradient(45deg, rgba(0,0,0,.18) 0 2px, transparent 2px 7px); outline: 2px dashed #333">'
              f"</span><span>hatched, outlined: does not beat the blank control (≤ floor or ≈ floor)</span></div>")
    return f'{legend}<table class="heatmap"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


ARXIV = re.compile(r"arXiv[ :]*(\d{4}\.\d{4,5})", re.I)
URL = re.compile(r"https?://[^\s;,)]+")


def paper_link(paper: str) -> str:
    """A component's ``paper`` text, linked: to arXiv when it names an arXiv id, to its URL when it
    holds one, else to a Google Scholar search for it."""
    if URL.search(paper):
        return URL.sub(lambda m: f'<a href="{esc(m.group(0))}">{esc(m.group(0))}</a>', esc(paper))
    found = ARXIV.search(paper)
    href = f"https://arxiv.org/abs/{found.group(1)}" if found else \
        "https://scholar.google.com/scholar?q=" + esc(quote_plus(paper))
    return f'<a href="{href}">{esc(paper)}</a>'


def code_link(code: str) -> str:
    """A component's ``code`` text with each URL in it linked."""
    out, last = [], 0
    for m in URL.finditer(code):
        out += [esc(code[last:m.start()]), f'<a href="{esc(m.group(0))}">{esc(m.group(0))}</a>']
        last = m.end()
    return "".join(out) + esc(code[last:])
