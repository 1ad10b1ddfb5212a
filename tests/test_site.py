"""The static site: every board row on its page with its grids, the pivot and the worst-case table,
and, in headless Chromium (Debian's ``chromium``), no script error and every image loaded."""

import re
import shutil
import subprocess

import pytest

from mibench.leaderboard import read_board
from mibench.runner import Pipeline, RunOptions
from mibench.site import build_site
from mibench.spec import resolve


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    options = RunOptions(device="cpu", out=root / "runs", leaderboard_dir=root / "boards", cache_root=root / "cache")
    for defense, seed in (("none", 0), ("none", 1), ("calor", 0)):
        Pipeline(resolve("tiny", defense, "plg", "quick", seed=seed), options).run()
    Pipeline(resolve("tiny", "none", "plg", "quick", control=True), options).run()
    index = build_site(root / "boards", ["tiny-quick"], root / "site")
    return root, index


def test_the_board_page_has_every_row_its_grids_the_pivot_and_the_ranking(site):
    root, index = site
    page = (root / "site" / "tiny-quick.html").read_text()
    board = read_board(root / "boards" / "tiny-quick.csv")
    rows = re.findall(r'<tr class="row">', page)
    assert len(rows) == len(board) == 3
    assert page.count('class="thumb"') == 4  # one grid per seed of each row, kept beside the records
    assert "defense x attack" in page and "worst case over attacks" in page
    assert "by attacked class" in page and "<th>0</th><th>1</th><th>2</th>" in page  # the tiny budget's classes
    assert 'href="tiny-quick.html"' in index.read_text()


def test_in_a_real_browser_the_pages_load_every_image_without_errors(site):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    root, _ = site
    for page in ("index.html", "tiny-quick.html"):
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              "--virtual-time-budget=5000", (root / "site" / page).as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        body = re.search(r"<body([^>]*)>", dom)
        assert body, f"{page}: the browser returned no page"
        attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))
        assert attrs.get("errors") == "0", f"{page}: script errors {attrs}"
        assert attrs.get("images-broken") == "0", f"{page}: broken images {attrs}"
        if page != "index.html":
            assert int(attrs["images-ok"]) == 4
            assert len(re.findall(r'<tr class="row">', dom)) == 3
