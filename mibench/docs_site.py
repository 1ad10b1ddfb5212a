"""The repository's documents (``docs/*.md``) as pages of the static site.

Each document becomes ``<site>/docs/<name>.html`` (markdown-it, CommonMark with tables), and
``docs/index.html`` lists them by their first heading. Headings get GitHub's anchors, so a link
``protocol.md#reproducibility`` works in the site as on GitHub; a link to another document points
to its page, ``../README.md`` to the site's front page, an image of the repository (the frontier
figure) is copied beside the pages, and a link to any other repository file keeps its text only
(the site does not carry the sources).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .cache import atomic_write_text
from .webpage import esc, page

DOCS = Path(__file__).resolve().parents[1] / "docs"
"""The documents of a source checkout (an installed wheel has none: the site then links no documents)."""
IMAGE = re.compile(r"\.(png|jpe?g|gif|svg)$", re.I)
ORDER = ("findings", "protocol", "protocol-card", "components", "cli", "sweeps", "bench", "plugins", "testing", "layout")
"""The reading order of the documents index (the README's "Where to go next"); others follow by name."""


def render_docs(source: Path, out: Path) -> list[tuple[str, str]]:
    """Write every ``source/*.md`` and an index into ``out``; returns (title, file name) per document."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    out.mkdir(parents=True, exist_ok=True)
    listed = []
    paths = sorted(Path(source).glob("*.md")) if Path(source).is_dir() else []
    for path in sorted(paths, key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem)):
        text = path.read_text(encoding="utf-8")
        title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), path.stem)
        body = _links(_anchors(md.render(text)), path.parent, out)
        atomic_write_text(out / f"{path.stem}.html", page(f"mibench: {title}", body, root="../"))
        listed.append((title, f"{path.stem}.html"))
    items = "".join(f'<li><a href="{name}">{esc(title)}</a></li>' for title, name in listed)
    atomic_write_text(out / "index.html", page("mibench: documentation", f"<h1>Documentation</h1><ul>{items}</ul>",
                                               root="../"))
    return listed


def slug(text: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(rendered: str) -> str:
    seen: dict[str, int] = {}

    def add_id(m: re.Match) -> str:
        base = slug(re.sub(r"<[^>]+>", "", m.group(2)).replace("&amp;", "&"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        return f'<h{m.group(1)} id="{base if not n else f"{base}-{n}"}">{m.group(2)}</h{m.group(1)}>'

    return re.sub(r"<h([1-6])>(.*?)</h\1>", add_id, rendered, flags=re.S)


def _links(rendered: str, source: Path, out: Path) -> str:
    def image(m: re.Match) -> str:
        target = (source / m.group(1)).resolve()
        if not target.is_file():
            return m.group(0)
        (out / "files").mkdir(exist_ok=True)
        shutil.copyfile(target, out / "files" / target.name)
        return f'src="files/{target.name}"'

    def link(m: re.Match) -> str:
        href, text = m.group(1), m.group(2)
        if re.match(r"[a-z]+:|#", href):
            return m.group(0)
        name, _, anchor = href.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if name.endswith("README.md"):
            return f'<a href="../index.html">{text}</a>'
        if name.endswith(".md") and "/" not in name:
            return f'<a href="{name[:-3]}.html{anchor}">{text}</a>'
        return f'<span title="{esc(name)} in the repository">{text}</span>'

    rendered = re.sub(r'src="(?![a-z]+:)([^"]+)"', lambda m: image(m) if IMAGE.search(m.group(1)) else m.group(0),
                      rendered)
    return re.sub(r'<a href="([^"]*)">(.*?)</a>', link, rendered, flags=re.S)
