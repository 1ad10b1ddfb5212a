"""The static site: the landing page's ranking with ties, heatmap and frontier; every board row on
its page, filterable, each with a page of its own (grids, metrics with intervals, components' papers
and code, configuration, provenance); the documents; clear errors for a folder that holds no board;
and, in headless Chromium (Debian's ``chromium``), every page rendered with no script error and
every image loaded, screenshots kept in the test's temporary folder."""

import re
import shutil
import subprocess

import pandas as pd
import pytest

from mibench.board import worst_case
from mibench.cli import main
from mibench.errors import LeaderboardError
from mibench.frontier_figure import plot
from mibench.leaderboard import load, read_board
from mibench.runner import Pipeline, RunOptions
from mibench.site import build_site, row_page
from mibench.spec import resolve
from mibench.webpage import heatmap, paper_link

BOARD = "tiny-quick"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    options = RunOptions(device="cpu", out=root / "runs", leaderboard_dir=root / "boards", cache_root=root / "cache")
    for defense, seed in (("none", 0), ("none", 1), ("calor", 0)):
        Pipeline(resolve("tiny", defense, "plg", "quick", seed=seed), options).run()
    Pipeline(resolve("tiny", "none", "plg", "quick", control=True), options).run()
    plot(*load(root / "boards", BOARD), "plg", root / "boards" / f"{BOARD}-frontier.png", "tiny frontier")
    index = build_site(root / "boards", None, root / "site")
    return root, index


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="row" data-defense="([^"]+)"', page)


def test_the_landing_page_has_each_boards_ranking_with_ties_heatmap_and_frontier(site):
    root, index = site
    page = index.read_text()
    frame, schema = load(root / "boards", BOARD)
    ranking = page[page.index("ranked by their worst case"):page.index("defense x attack")]
    assert [int(r) for r in re.findall(r'<tr><td data-value="(\d+)">', ranking)] == \
        worst_case(frame, schema)["rank"].tolist()  # the tied ranks of mibench.board.views, as computed
    assert '<table class="heatmap">' in page and "background-color: rgb(" in page
    assert "leaks least" in page and "does not beat the blank control" in page  # the legend
    assert f'<img class="figure" src="img/{BOARD}-frontier.png"' in page
    assert (root / "site" / "img" / f"{BOARD}-frontier.png").is_file()
    assert f'href="{BOARD}.html"' in page and 'href="docs/plugins.html"' in page


def test_the_board_page_lists_every_row_filterable_each_linking_its_page(site):
    root, _ = site
    page = (root / "site" / f"{BOARD}.html").read_text()
    board = read_board(root / "boards" / f"{BOARD}.csv")
    assert len(_rows(page)) == len(board) == 3
    assert 'select data-filter="defense"' in page and 'select data-filter="attack"' in page
    assert page.count('class="thumb"') == 3  # one grid per row (its lowest seed's), kept beside the records
    assert "by attacked class" in page and "<th>0</th><th>1</th><th>2</th>" in page  # the tiny budget's classes
    assert "<h2>The papers' claims, re-tested (attack_acc_top1)</h2>" in page  # CALoR's two, against none
    assert page.count('<td data-value="none x plg">none x plg</td>') == 2
    assert 'href="https://github.com/Chrisqcwx/LoFt"' in page  # each component's code, and its paper
    assert '<a href="https://arxiv.org/abs/2410.05814">' in page
    for config_hash in board["config_hash"]:
        assert f'href="rows/{BOARD}/{config_hash}.html"' in page
        assert (root / "site" / "rows" / BOARD / f"{config_hash}.html").is_file()


def test_a_row_page_has_its_grids_metrics_with_intervals_components_config_and_provenance(site):
    root, _ = site
    board = read_board(root / "boards" / f"{BOARD}.csv")
    row = board[(board.defense == "none") & ~board.control.astype(bool)].iloc[0]
    page = (root / "site" / "rows" / BOARD / f"{row.config_hash}.html").read_text()
    assert page.count('<img class="grid"') == 1 and (root / "site" / "img" / BOARD).is_dir()
    assert re.search(r"<td>attack_acc_top1</td><td>[\d.]+ ± [\d.]+ \[[\d.]+, [\d.]+\]</td>", page)  # 2 seeds
    assert 'href="https://github.com/LetheSec/PLG-MI-Attack"' in page  # PLG-MI's code, from the registry
    assert "https://scholar.google.com/scholar?q=Yuan+et+al." in page  # and its paper
    assert "<h2>Configuration</h2>" in page and "&quot;attack_params&quot;" in page
    assert "<td>git_commit</td>" in page and "<td>torch_version</td>" in page
    assert f'href="../../{BOARD}.html#defense=none&amp;attack=plg"' in page


def test_a_variant_rows_page_says_in_its_title_what_was_set(site):
    root, _ = site
    frame, schema = load(root / "boards", BOARD)
    row = frame[frame.defense == "calor"].iloc[0].copy()
    assert row["variant"] == "" and "<h1>calor (rank=3;ca=True) x plg</h1>" in row_page(BOARD, row, schema, [], [])
    row["variant"] = "defense.ca_lr=0.5"
    assert "<h1>calor (rank=3;ca=True; defense.ca_lr=0.5) x plg</h1>" in row_page(BOARD, row, schema, [], [])


def test_the_documents_are_pages_whose_links_and_anchors_work(site):
    root, _ = site
    docs = root / "site" / "docs"
    cli = (docs / "cli.html").read_text()
    assert 'href="protocol.html#reproducibility"' in cli
    assert 'id="reproducibility"' in (docs / "protocol.html").read_text()
    assert 'src="files/mnist-frontier.png"' in (docs / "findings.html").read_text()
    assert (docs / "files" / "mnist-frontier.png").is_file()
    assert 'id="adding-a-defense-as-a-plugin"' in (docs / "plugins.html").read_text()


def test_a_heatmap_colours_by_leakage_and_hatches_the_cells_that_do_not_beat_the_floor():
    text = pd.DataFrame([["0.9", "0.2 ≈ floor"]], index=["none"], columns=["a", "b"])
    leak = pd.DataFrame([[0.9, 0.2]], index=["none"], columns=["a", "b"])
    marked = pd.DataFrame([[False, True]], index=["none"], columns=["a", "b"])
    html = heatmap(text, leak, marked, "leaks least", "leaks most")
    cells = re.findall(r"<td([^>]*)>([^<]*)</td>", html)
    assert 'rgb(179, 0, 0)' in cells[1][0] and 'class="floor"' not in cells[1][0]  # the leakiest: dark
    assert 'class="floor"' in cells[2][0] and "rgb(255, 247, 236)" in cells[2][0]  # the least: pale, hatched
    assert paper_link("Yu et al., CALoR, arXiv 2410.05814").startswith('<a href="https://arxiv.org/abs/2410.05814"')


def test_a_site_from_a_folder_without_boards_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    empty, foreign, bare = tmp_path / "empty", tmp_path / "foreign", tmp_path / "bare"
    for folder in (empty, foreign, bare):
        folder.mkdir()
    (foreign / "prices.csv").write_text("item,price\napple,1\n")
    (bare / "tiny-quick.csv").write_text("suite,profile,defense,attack,control,config_hash\n")
    cases = [(tmp_path / "missing", "is not a folder"), (empty, r"no boards \(\*\.csv\)"),
             (foreign, "prices.csv is not a mibench leaderboard"), (bare, "has no records")]
    for folder, message in cases:
        with pytest.raises(LeaderboardError, match=message):
            build_site(folder, None, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    assert main(["leaderboard", "site", "--dir", str(foreign), "--out", str(tmp_path / "out")]) != 0
    assert "not a mibench leaderboard" in capsys.readouterr().err


def _chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    return browser


def _browse(browser, profile, url, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    return subprocess.run([browser, *flags, *args, url], capture_output=True, text=True, timeout=120)


def _body(dom: str, page: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"{page}: the browser returned no page"
    return dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))


def test_in_a_real_browser_the_pages_render_their_tables_and_figures_and_the_filter_works(site, tmp_path_factory):
    browser = _chromium()
    root, _ = site
    shots = tmp_path_factory.mktemp("screenshots")
    board = read_board(root / "boards" / f"{BOARD}.csv")
    row_page = f"rows/{BOARD}/{board.config_hash.iloc[0]}.html"
    expect = {"index.html": ('<table class="heatmap">', 'class="figure"'),
              f"{BOARD}.html": ('table class="sortable board filterable"', 'class="thumb"'),
              row_page: ('<table class="metrics">', 'class="grid"'),
              "docs/findings.html": ("<table>", "<img")}
    for page, present in expect.items():
        url = (root / "site" / page).as_uri()
        dom = _browse(browser, tmp_path_factory.mktemp("profile"), url, "--dump-dom").stdout
        attrs = _body(dom, page)
        assert attrs.get("errors") == "0", f"{page}: script errors {attrs}"
        assert attrs.get("images-broken") == "0" and int(attrs["images-ok"]) >= 1, f"{page}: images {attrs}"
        for fragment in present:
            assert fragment in dom, f"{page}: {fragment} not rendered"
        shot = shots / (page.replace("/", "_") + ".png")
        _browse(browser, tmp_path_factory.mktemp("profile"), url, "--window-size=1400,2000", "--hide-scrollbars",
                f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 10_000, f"{page}: no screenshot"
    # the filter: an address that names a defense and an attack shows their rows only
    url = (root / "site" / f"{BOARD}.html").as_uri() + "#defense=calor&attack=plg"
    dom = _browse(browser, tmp_path_factory.mktemp("profile"), url, "--dump-dom").stdout
    attrs = _body(dom, "filtered board")
    assert attrs.get("errors") == "0" and attrs.get("rows-shown") == "1", attrs
    shown = re.findall(r'<tr class="row" data-defense="(\w+)" data-attack="(\w+)">', dom)
    assert shown == [("calor", "plg")], shown
    assert len(re.findall(r'<tr class="row"[^>]* hidden="">', dom)) == len(board) - 1
    print(f"screenshots: {shots}")
