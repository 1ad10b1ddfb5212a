"""Progress bars and messages through rich on standard error; results (tables a user may pipe) on
standard output."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
"""Progress, messages and errors (standard error)."""
stdout = Console()
"""Results a user may pipe: `mibench ls`, `leaderboard show` (standard output)."""
for _c in (console, stdout):
    if not _c.is_terminal:  # logs, pipes and CI: wide enough for a leaderboard table
        _c.width = 200


def quiet() -> bool:
    return os.environ.get("MIBENCH_QUIET", "") not in ("", "0")


_spans: dict[str, float] | None = None


@contextlib.contextmanager
def timed_spans() -> Iterator[dict[str, float]]:
    """Yield a dict that collects the wall seconds of every :func:`progress` block opened inside,
    summed by description: where a stage's time goes (a run stores them in its record's timings)."""
    global _spans
    outer, _spans = _spans, {}
    try:
        yield _spans
    finally:
        _spans = outer


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; fields (e.g. ``loss=0.3``) are shown beside the bar."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    spans, start = _spans, time.perf_counter()
    with Progress(*columns, console=console, disable=quiet(), transient=False) as bar:
        task = bar.add_task(escape(description), total=total, info="")

        def advance(n: int = 1, **fields: float) -> None:
            info = "  ".join(f"{k}={v:.4g}" for k, v in fields.items())
            bar.update(task, advance=n, info=info) if fields else bar.advance(task, n)

        yield advance
    if spans is not None:
        spans[description] = spans.get(description, 0.0) + time.perf_counter() - start
