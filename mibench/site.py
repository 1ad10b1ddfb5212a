"""``mibench leaderboard site --out DIR``: the boards as a static site (plain HTML and PNGs, no
server, nothing fetched: it works offline).

- ``index.html``, the landing page: per board, the defenses ranked with ties by their worst case
  over attacks, the defense x attack pivot as a heatmap (cells coloured by how much they leak, in
  the metric's direction; those that do not beat the blank control hatched) and the frontier
  figure; then the documents.
- ``<board>.html``: every row, filterable by defense and attack (``#defense=mid&attack=plg`` in the
  address sets the filter) and sortable by any column, each linking its page, then the ranking,
  the heatmap, the components' claims re-tested (:mod:`mibench.board.claims`), the per-class
  table, the frontier and each defense's and attack's paper and code.
- ``rows/<board>/<config_hash>.html``, a page per row (configuration): its components with their
  paper and code, its metrics with their 95 % intervals, per seed, its reconstruction grids (one
  per seed kept, beside the records in ``<board dir>/grids/<board>/``), its configuration and its
  provenance.
- ``docs/``: the repository's documents (:mod:`mibench.docs_site`).

Columns, the primary metric and its direction come from the board's
:class:`~mibench.board.schema.BoardSchema`. A folder with no board, a CSV that is not a mibench
board or a board without records is an error before anything is written.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd

from .board import cell, per_class, pivot, visible, worst_case
from .board.claims import METHOD as CLAIMS_METHOD, SHOWN as CLAIMS_SHOWN, retest, shown, summary
from .board.intervals import METHOD
from .board.provenance import protocol
from .board.schema import PROVENANCE, UTILITY, BoardSchema, present
from .board.views import AT_FLOOR, CONTROL, NEAR_FLOOR, TIE_NOTE, WORST_CASE_NOTE, default_rows, floor, floor_note
from .cache import atomic_write_text
from .docs_site import DOCS, render_docs
from .errors import LeaderboardError, MibenchError
from .leaderboard import read_board, read_records, records_dir
from .records import RunRecord
from .webpage import code_link, esc, filters, heatmap, note, page, paper_link, table


def build_site(board_dir: Path, boards: list[str] | None, out: Path) -> Path:
    """Write the site of ``boards`` (default: every ``*.csv`` of ``board_dir``) into ``out``; returns
    its ``index.html``. Every board is read and checked before anything is written."""
    board_dir, out = Path(board_dir), Path(out)
    loaded = {board: _load(board_dir, board) for board in _boards(board_dir, boards)}
    (out / "img").mkdir(parents=True, exist_ok=True)
    docs = render_docs(DOCS, out / "docs")
    sections = []
    for board, (frame, schema, records) in loaded.items():
        frame = _ordered(frame, schema)
        frontier = board_dir / f"{board}-frontier.png"
        if frontier.is_file():
            shutil.copyfile(frontier, out / "img" / frontier.name)
        grids = {h: _grids(board_dir, board, h, out) for h in frame["config_hash"]}
        for _, row in frame.iterrows():
            page_path = out / "rows" / board / f"{row['config_hash']}.html"
            page_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(page_path, row_page(board, row, schema, records.get(row["config_hash"], []),
                                                  grids[row["config_hash"]]))
        atomic_write_text(out / f"{board}.html", board_page(board, frame, schema, records, grids, frontier.is_file()))
        sections.append(landing_section(board, frame, schema, frontier.is_file()))
    doc_items = "".join(f'<li><a href="docs/{name}">{esc(title)}</a></li>' for title, name in docs)
    body = ("<h1>mibench leaderboards</h1><p>mibench is a reference benchmark for model-inversion attacks and "
            "defenses: each defended target is attacked by every attack, and the reconstructions are scored by an "
            "independent judge. Every number below is generated from the boards' run records.</p>"
            + "".join(sections) + (f"<h2>Documentation</h2><ul>{doc_items}</ul>" if docs else ""))
    atomic_write_text(out / "index.html", page("mibench leaderboards", body))
    return out / "index.html"


def _boards(board_dir: Path, boards: list[str] | None) -> list[str]:
    if not board_dir.is_dir():
        raise LeaderboardError(f"{board_dir} is not a folder; pass --dir with a leaderboard folder (e.g. leaderboards)")
    boards = sorted(p.stem for p in board_dir.glob("*.csv")) if boards is None else list(boards)
    if not boards:
        raise LeaderboardError(f"no boards (*.csv) in {board_dir}: nothing to build a site from. Pass --dir with a "
                               f"leaderboard folder (e.g. leaderboards), or make one with `mibench run ... "
                               f"--leaderboard-dir {board_dir}`")
    return boards


def _load(board_dir: Path, board: str) -> tuple[pd.DataFrame, BoardSchema, dict[str, list[RunRecord]]]:
    """The board's rows, schema and records by config hash; a foreign CSV or a board without
    records is an error naming the file."""
    frame = read_board(board_dir / f"{board}.csv")
    pairs = read_records(board_dir, board)
    if not pairs:
        raise LeaderboardError(f"{board_dir / board}.csv has no records in {records_dir(board_dir, board)}: a board's "
                               f"pages are built from its records (`mibench leaderboard build` makes the CSV from them)")
    schema = BoardSchema.from_records(pairs)
    if schema.primary is None:
        raise LeaderboardError(f"the records of {board} declare no headline metric to rank by")
    by_config: dict[str, list[RunRecord]] = {}
    for _, rec in pairs:
        by_config.setdefault(rec.config_hash, []).append(rec)
    return frame, schema, {h: sorted(r, key=lambda rec: rec.spec["seed"]) for h, r in by_config.items()}


def _ordered(frame: pd.DataFrame, schema: BoardSchema) -> pd.DataFrame:
    """Attack rows first, ranked by the primary metric from the most private."""
    primary = schema.metric()
    return frame.sort_values(["control", primary.name], ascending=[True, primary.higher_is_better],
                             kind="stable").reset_index(drop=True)


def landing_section(board: str, frame: pd.DataFrame, schema: BoardSchema, has_frontier: bool) -> str:
    primary = schema.metric()
    parts = [f'<h2><a href="{esc(board)}.html">{esc(board)}</a></h2>',
             f'<p class="note">{len(frame)} rows; ranked by {esc(primary.name)} ({primary.private_side}: more '
             f'private). <a href="{esc(board)}.html">Every row, filterable, with its page</a>.</p>',
             *_views(frame, schema, "h3")]
    if has_frontier:
        parts.append(_frontier(board, "h3"))
    return "\n".join(parts)


def board_page(board: str, frame: pd.DataFrame, schema: BoardSchema, records: dict[str, list[RunRecord]],
               grids: dict[str, list[tuple[int, str]]], has_frontier: bool) -> str:
    primary = schema.metric()
    cols = present(frame, schema.shown())
    link = {"page": lambda r: f'<a href="rows/{esc(board)}/{esc(r["config_hash"])}.html">open</a>',
            "grid": lambda r: _thumbs(grids[r["config_hash"]][:1])}

    def attrs(r: pd.Series) -> str:  # what the filter reads
        return f' class="row" data-defense="{esc(r["defense"])}" data-attack="{esc(r["attack"])}"'

    parts = [f"<h1>{esc(board)} <small>({esc(protocol(r for rs in records.values() for r in rs))})</small></h1>",
             f'<p class="note">{len(frame)} rows, each the mean ± sd over its seeds [95 % interval]; generated from '
             f"the records in records/{esc(board)}/. Click a column to sort; open a row for its page (every seed's grid, "
             f"its configuration and provenance).</p>",
             "<h2>Rows</h2>", filters(frame, ["defense", "attack"]),
             table(frame, cols, css="board filterable", row_attrs=attrs, extra=link), note(METHOD),
             *_views(frame, schema, "h2"), *_claims(frame, schema, records)]
    by_class = per_class([("", r) for recs in records.values() for r in recs], primary.name)
    if len(by_class):
        parts += [f"<h2>{esc(primary.name)} by attacked class (mean over seeds)</h2>",
                  table(by_class, [c for c in by_class.columns if c != "config_hash"]),
                  '<p class="note">Rows whose records predate the per-class breakdown are not listed.</p>']
    if has_frontier:
        parts.append(_frontier(board, "h2"))
    firsts = [recs[0] for recs in records.values()]
    parts += ["<h2>Components</h2>",
              _component_table([(kind, name) for kind, col in (("defenses", "defense"), ("attacks", "attack"))
                                for name in sorted(frame[col].astype(str).unique())], firsts)]
    return page(f"mibench: {board}", "\n".join(parts))


def _views(frame: pd.DataFrame, schema: BoardSchema, h: str) -> list[str]:
    """The ranking with ties and the pivot heatmap, under ``h`` headings (nothing for a board
    without default-strength rows)."""
    primary = schema.metric()
    grid = pivot(frame, schema)
    if not len(grid):
        return []
    ranked = worst_case(frame, schema)
    found = floor(frame, primary)
    return [f"<{h}>Defenses ranked by their worst case over attacks ({primary.private_side} {esc(primary.name)}: "
            f"more private)</{h}>", table(ranked, visible(list(ranked.columns))), note(f"{TIE_NOTE}; {WORST_CASE_NOTE}"),
            f"<{h}>{esc(primary.name)}: defense x attack (default strengths)</{h}>",
            heatmap(grid, _leakage(frame, schema, grid), grid.map(lambda t: AT_FLOOR in t or NEAR_FLOOR in t),
                    "leaks least", "leaks most"),
            *([note(floor_note(primary, found))] if found else [])]


def _claims(frame: pd.DataFrame, schema: BoardSchema, records: dict[str, list[RunRecord]]) -> list[str]:
    """The claims the board's components declare, re-tested (``mibench leaderboard claims``): the
    verdicts counted per claim, then every contrast; nothing when no claim can be tested here."""
    contrasts = retest(frame, [("", r) for recs in records.values() for r in recs], schema)
    if contrasts.empty:
        return []
    counted = summary(contrasts)
    return [f"<h2>The papers' claims, re-tested ({esc(schema.metric().name)})</h2>", table(counted, list(counted.columns)),
            "<h3>Every contrast</h3>", table(shown(contrasts), CLAIMS_SHOWN), note(CLAIMS_METHOD)]


def _leakage(frame: pd.DataFrame, schema: BoardSchema, grid: pd.DataFrame) -> pd.DataFrame:
    """The pivot's cells as leakage (the primary metric times its sign: higher leaks more)."""
    m = schema.metric()
    leak = pd.DataFrame(math.nan, index=grid.index, columns=grid.columns, dtype=float)
    for _, r in default_rows(frame).iterrows():
        key = CONTROL if r["control"] else r["defense"]
        if key in leak.index and r["attack"] in leak.columns and pd.notna(r[m.name]):
            leak.loc[key, r["attack"]] = m.sign * float(r[m.name])
    return leak


def _frontier(board: str, h: str) -> str:
    return (f"<{h}>Privacy-utility frontier</{h}>"
            f'<img class="figure" src="img/{esc(board)}-frontier.png" alt="{esc(board)} privacy-utility frontier">')


def _grids(board_dir: Path, board: str, config_hash: str, out: Path) -> list[tuple[int, str]]:
    """(seed, site path) of each grid kept for the configuration, copied into the site."""
    kept = []
    for source in sorted((board_dir / "grids" / board).glob(f"{config_hash}-s*.png")):
        seed = source.stem.rsplit("-s", 1)[1]
        target = out / "img" / board / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        kept.append((int(seed) if seed.isdigit() else seed, f"img/{board}/{source.name}"))
    return sorted(kept)


def _thumbs(grids: list[tuple[int, str]]) -> str:
    return " ".join(f'<a href="{esc(p)}"><img class="thumb" src="{esc(p)}" alt="seed {s}" '
                    f'title="seed {s}"></a>' for s, p in grids) or '<span class="note">none kept</span>'


def row_page(board: str, row: pd.Series, schema: BoardSchema, records: list[RunRecord],
             grids: list[tuple[int, str]]) -> str:
    """A configuration's page: components, metrics with intervals, per seed, grids, config, provenance."""
    root = "../../"
    labels = "; ".join(s for s in (str(row.get(c, "")) for c in ("strength", "variant")) if s)
    strength = f" ({labels})" if labels else ""
    title = f"{row['defense']}{strength} x {row['attack']}{' (control)' if row['control'] else ''}"
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p class="note">Board <a href="{root}{esc(board)}.html#defense={esc(row["defense"])}&amp;attack='
             f'{esc(row["attack"])}">{esc(board)}</a>, configuration {esc(row["config_hash"])}, seeds '
             f"{esc(row['seeds'])}.</p>",
             "<h2>Components</h2>", _components(records),
             "<h2>Metrics</h2>", _metrics(row, schema),
             note(METHOD), *_per_seed(records, schema),
             "<h2>Reconstruction grids</h2>",
             "".join(f'<figure><img class="grid" src="{root}{esc(p)}" alt="grid, seed {s}"><figcaption>seed {s}: each '
                     f"attacked class a row, each reconstruction framed green when the judge recognises its class, "
                     f"red when not, beside the nearest private image</figcaption></figure>" for s, p in grids)
             or '<p class="note">No grid kept for this configuration.</p>']
    if records:
        spec = {k: v for k, v in records[0].spec.items() if k != "seed"}
        parts += ["<h2>Configuration</h2>", f"<pre>{esc(json.dumps(spec, indent=1, sort_keys=True, default=str))}</pre>"]
    provenance = [c for c in PROVENANCE if c in row.index]
    parts += ["<h2>Provenance</h2>",
              "<table><tbody>" + "".join(f'<tr><td>{esc(c)}</td><td class="text">{esc(row[c])}</td></tr>'
                                         for c in provenance) + "</tbody></table>"]
    if records:
        environment = {"float_env": records[0].float_env, "versions": records[0].versions}
        parts.append(f"<pre>{esc(json.dumps(environment, indent=1, default=str))}</pre>")
    return page(f"mibench: {board}: {title}", "\n".join(parts), root=root)


def _metrics(row: pd.Series, schema: BoardSchema) -> str:
    """Every metric of the row with its sd and 95 % interval, its direction and what it measures."""
    lines = [(UTILITY, "", "accuracy of the defended target on private_test (its utility)")]
    lines += [(m.name, m.private_side if m.number else "", m.description) for m in schema.metrics]
    body = "".join(f'<tr><td>{esc(name)}</td><td>{esc(cell(row, name))}</td><td class="text">{esc(side)}</td>'
                   f'<td class="text">{esc(text)}</td></tr>' for name, side, text in lines if name in row.index)
    return ('<table class="metrics"><thead><tr><th>metric</th><th>mean ± sd over seeds [95 % interval]</th>'
            f"<th>more private</th><th>what it measures</th></tr></thead><tbody>{body}</tbody></table>")


def _per_seed(records: list[RunRecord], schema: BoardSchema) -> list[str]:
    if not records:
        return []
    names = schema.names()
    frame = pd.DataFrame([{"seed": r.spec["seed"], UTILITY: r.natural_acc,
                           **{n: r.metrics.get(n, math.nan) for n in names}} for r in records])
    return ["<h3>Per seed</h3>", table(frame, ["seed", UTILITY, *names], sortable=False)]


def _components(records: list[RunRecord]) -> str:
    """The row's suite, defense, attack, priors and evaluators, each with its paper and code."""
    if not records:
        return '<p class="note">No record: the components are unknown.</p>'
    spec = records[0].spec
    return _component_table([("suites", spec["suite"]), ("defenses", spec["defense"]), ("attacks", spec["attack"]),
                             *[("priors", p) for p in spec.get("prior_params", {})],
                             *[("evaluators", e) for e in spec.get("evaluator_params", {})]], records)


def _component_table(wanted: list[tuple[str, str]], records: list[RunRecord]) -> str:
    """(kind, name) -> a row with the component's paper and code: from the registries, else (a
    component no longer installed) from what a record stored."""
    from .registries import REGISTRIES

    rows = []
    for kind, name in wanted:
        try:
            cls = REGISTRIES[kind].get(name)
            paper, code = cls.paper, cls.code
        except MibenchError:
            stored = next((c for c in (_stored(r, kind, name) for r in records) if c), {})
            paper, code = stored.get("paper", "?"), stored.get("code", "?")
        rows.append(f'<tr><td class="text">{esc(kind.rstrip("s"))}</td><td class="text">{esc(name)}</td>'
                    f'<td class="text">{paper_link(paper)}</td><td class="text">{code_link(code)}</td></tr>')
    return ('<table class="components"><thead><tr><th>kind</th><th>name</th><th>paper</th><th>code</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _stored(record: RunRecord, kind: str, name: str) -> dict:
    """What ``record`` stored of the component (``components["defense"]``, ``components["priors"][i]``)."""
    stored = record.components.get(kind.rstrip("s")) or record.components.get(kind) or {}
    if isinstance(stored, list):
        return next((c for c in stored if c.get("name") == name), {})
    return stored if stored.get("name") == name else {}
