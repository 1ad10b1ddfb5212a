"""``mibench snapshots record|check``: re-record the component snapshots, or compare with them.

``record`` runs every registered component's check (:mod:`mibench.testing.checks`), writes the
snapshot file and prints which components' checksums changed; ``check`` compares without writing
and exits with status 1 when one differs. Both share one cache in a temporary folder, so every
artifact is trained from the code as it is now.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.markup import escape

from ..progress import console


def run(args: argparse.Namespace) -> int:
    """``args``: ``action`` (record or check), ``out`` (the snapshot file) and ``only`` (comma-separated
    ``kind/name``, or "" for every registered component)."""
    from .checks import ContractError, check, components
    from .store import SnapshotFile, SnapshotMismatch, SnapshotSkipped, record, verify

    keys = [k.strip() for k in args.only.split(",") if k.strip()] or components()
    if args.action == "check":
        SnapshotFile.load(args.out)  # an edited file fails before any work
    os.environ.setdefault("MIBENCH_QUIET", "1")
    snapshots, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="mibench-snapshots-cache-") as cache:
        for key in keys:
            start = time.perf_counter()
            try:
                snapshot = check(key, Path(cache))
                if args.action == "check":
                    verify(snapshot, args.out)
                elif snapshot.unavailable:
                    raise SnapshotSkipped(f"no snapshot: {snapshot.unavailable}")
                snapshots.append(snapshot)
                console.print(f"ok       {escape(key)} ({time.perf_counter() - start:.1f} s)")
            except SnapshotSkipped as exc:
                console.print(f"[yellow]skipped  {escape(key)}: {escape(str(exc))}")
            except (ContractError, SnapshotMismatch) as exc:
                failed += 1
                console.print(f"[red]failed   {escape(key)}: {escape(str(exc))}")
    if args.action == "check" or failed:
        console.print(f"[{'red' if failed else 'green'}]{failed} of {len(keys)} component(s) failed"
                      + ("; nothing was recorded" if failed and args.action == "record" else ""))
        return 1 if failed else 0
    lines = record(args.out, snapshots, keep_others=bool(args.only))
    for line in lines or ["no component's checksums changed"]:
        console.print(escape(line))
    console.print(f"wrote {args.out}")
    return 0
