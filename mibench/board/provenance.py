"""Whether this installation can recompute a board: the component versions its records name.

A record stores the name and version of the suite (its protocol version), the defense, the attack,
the priors and the evaluators that produced it (``RunRecord.components``). A recomputation by other
versions measures other methods, so ``leaderboard check`` compares the two before it trains
anything: a protocol-2 board checked by a protocol-3 installation is an error that names every
difference, not hours of training ending in a mismatch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import LeaderboardError, MibenchError
from ..records import RunRecord

KINDS = (("suite", "suites"), ("defense", "defenses"), ("attack", "attacks"), ("priors", "priors"),
         ("evaluators", "evaluators"))
"""Record field -> registry kind, in pipeline order."""


def _entries(value: Any) -> list[dict[str, Any]]:
    return [e for e in (value if isinstance(value, list) else [value]) if isinstance(e, dict) and "name" in e]


def version_differences(record: RunRecord) -> list[str]:
    """``"attack gmi: record 1, installed 2"`` for each component of ``record`` whose installed
    version differs (or that is not installed); empty when this installation can recompute it."""
    from ..registries import REGISTRIES  # registries import the component modules
    out = []
    for field, kind in KINDS:
        for entry in _entries(record.components.get(field, [])):
            label = f"{kind[:-1]} {entry['name']}"
            try:
                installed = str(REGISTRIES[kind].get(entry["name"]).version)
            except MibenchError:
                out.append(f"{label}: record {entry.get('version')}, not installed")
                continue
            if str(entry.get("version")) != installed:
                out.append(f"{label}: record {entry.get('version')}, installed {installed}")
    return out


def protocol(records: Iterable[RunRecord]) -> str:
    """The suite protocol versions of ``records``, e.g. ``"mnist v2"`` (several joined by ', ')."""
    found = sorted({f"{r.components.get('suite', {}).get('name', r.spec.get('suite', '?'))} "
                    f"v{r.components.get('suite', {}).get('version', '?')}" for r in records})
    return ", ".join(found)


def check_recomputable(board: str, labelled: Iterable[tuple[str, RunRecord]]) -> None:
    """Raise :class:`LeaderboardError` naming every record (by file) whose components this
    installation does not have at the record's versions; nothing has run yet when it raises."""
    stale = [(name, record, diffs) for name, record in labelled if (diffs := version_differences(record))]
    if not stale:
        return
    shown = "; ".join(f"{name}: {', '.join(diffs)}" for name, _, diffs in stale[:5])
    more = f" (and {len(stale) - 5} more records)" if len(stale) > 5 else ""
    commits = sorted({r.versions.get("git") or "unknown" for _, r, _ in stale})
    raise LeaderboardError(
        f"board {board!r} was computed by other component versions than this installation's, so recomputing "
        f"it would measure other methods: {shown}{more}. Check it with the mibench that wrote it (git commit "
        f"{', '.join(commits)}), or regenerate the board with this one (`mibench sweep`)")


def check_one_protocol(records: list[tuple[str, RunRecord]]) -> None:
    """A board never mixes protocol versions: records of two (``mnist v2`` and ``mnist v3``) are a
    :class:`LeaderboardError` naming a record of each."""
    first: dict[str, str] = {}
    for path, rec in records:
        first.setdefault(protocol([rec]), path)
    if len(first) > 1:
        named = "; ".join(f"{p} ({path})" for p, path in first.items())
        raise LeaderboardError(f"the board mixes records of different protocol versions: {named}. Keep each "
                               f"protocol's records in a board folder of its own")


def check_writable_protocol(folder: Path, board: str, suite: str, version: str) -> None:
    """Before a run adds a row to ``board`` in ``folder``: the board's records must be of this
    installation's protocol (``suite`` at ``version``), or the board would mix two."""
    from ..leaderboard import read_records  # it imports the board package
    mine = f"{suite} v{version}"
    found = protocol(r for _, r in read_records(folder, board))
    if found and found != mine:
        raise LeaderboardError(
            f"{Path(folder) / board}.csv holds records of {found}; this installation runs {mine}, and a board never "
            f"mixes protocol versions. Write the rows to another folder (--leaderboard-dir DIR); the old board stays "
            f"readable with `mibench leaderboard show --dir {folder}`")
