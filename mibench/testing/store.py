"""A snapshot file: the recorded snapshots of components, and the comparison with new ones.

The file is JSON, written by ``mibench snapshots record`` (:func:`record`)::

    {"about": "...", "suite": "tiny", "profile": "quick", "seed": 0,
     "float_env": {...the environment of every snapshot in it...},
     "components": {"defenses/bido": {"version": "1", "params": {...},
                                      "sha256": {"target_weights": "...", "natural_acc": "..."}}, ...},
     "sha256": "<SHA-256 of the canonical JSON of everything else>"}

The last checksum makes an edit by hand (or a merge of two recordings) an error that says to
re-record, never a silently different baseline. :func:`verify` compares a new snapshot with its
entry: a difference is a :class:`SnapshotMismatch` (an ``AssertionError``) naming the component and
the outputs that changed; a snapshot taken in another float environment is not compared (a
:class:`SnapshotSkipped`, which pytest reports as a skip, naming what differs).
"""

from __future__ import annotations

import json
import unittest
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import atomic_write_text, content_key
from ..errors import MibenchError
from .checks import PROFILE, SEED, SUITE
from .snapshot import Snapshot, environment_difference

DEFAULT_FILE = Path("tests/snapshots/tiny.json")
ABOUT = ("Component snapshots on the synthetic tiny suite (mibench.testing): the SHA-256 of each component's "
         "outputs. Written by `mibench snapshots record`; an edit by hand is detected.")


class SnapshotError(MibenchError):
    """A snapshot file that cannot be used as it is (missing, edited by hand, not JSON)."""


class SnapshotMismatch(AssertionError):
    """A component's outputs differ from its recorded snapshot (or it has none)."""


class SnapshotSkipped(unittest.SkipTest):
    """A snapshot that cannot be compared here; pytest reports it as a skip with this reason."""


def record_command(path: Path) -> str:
    return f"`mibench snapshots record --out {path}`"


@dataclass(frozen=True)
class SnapshotFile:
    """A snapshot file's content: the float environment of its snapshots and each component's entry
    (:func:`entry`) by ``kind/name``."""

    path: Path
    float_env: dict[str, Any]
    components: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path | str, *, verified: bool = True) -> "SnapshotFile":
        """The file at ``path``; with ``verified``, a content that does not match its checksum is an error."""
        path = Path(path)
        if not path.is_file():
            raise SnapshotError(f"there is no snapshot file {path}: record one with {record_command(path)}")
        try:
            data = json.loads(path.read_text())
            body = {k: v for k, v in data.items() if k != "sha256"}
            stored, float_env, components = data.get("sha256"), data["float_env"], data["components"]
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise SnapshotError(f"snapshot file {path} is not a snapshot file ({type(exc).__name__}: {exc}); "
                                f"re-record it with {record_command(path)}") from None
        if verified and stored != content_key(body):
            raise SnapshotError(f"snapshot file {path} was edited by hand (its checksum does not match its content); "
                                f"re-record it with {record_command(path)}")
        return cls(path, float_env, components)

    def save(self) -> None:
        body = {"about": ABOUT, "suite": SUITE, "profile": PROFILE, "seed": SEED, "float_env": self.float_env,
                "components": self.components}
        atomic_write_text(self.path, json.dumps({**body, "sha256": content_key(body)}, indent=1, sort_keys=True) + "\n")


def entry(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as its file stores it."""
    return {"version": snapshot.version, "params": snapshot.params, "sha256": dict(snapshot.outputs)}


def changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two entries of one component ("" when nothing): the outputs, then the
    version and parameters that may explain it."""
    before, after = old.get("sha256", {}), new["sha256"]
    parts = []
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    if changed:
        parts.append(f"output{'s' if len(changed) > 1 else ''} {', '.join(changed)} changed")
    if after.keys() - before.keys():
        parts.append(f"new outputs {', '.join(sorted(after.keys() - before.keys()))}")
    if before.keys() - after.keys():
        parts.append(f"outputs {', '.join(sorted(before.keys() - after.keys()))} gone")
    if parts and old.get("version") != new["version"]:
        parts.append(f"version {old.get('version')} -> {new['version']}")
    params = [f"{k} {old.get('params', {}).get(k)!r} -> {new['params'].get(k)!r}"
              for k in sorted(old.get("params", {}).keys() | new["params"].keys())
              if old.get("params", {}).get(k) != new["params"].get(k)]
    if parts and params:
        parts.append(f"parameters {', '.join(params)}")
    return "; ".join(parts)


def verify(snapshot: Snapshot, path: Path | str = DEFAULT_FILE) -> None:
    """Compare ``snapshot`` with its entry in the file at ``path``: silent when equal."""
    path = Path(path)
    if snapshot.unavailable:
        raise SnapshotSkipped(f"{snapshot.key} has no snapshot: {snapshot.unavailable}")
    stored = SnapshotFile.load(path)
    env = environment_difference(stored.float_env, snapshot.float_env)
    if env:
        raise SnapshotSkipped(f"{path} was recorded in another float environment ({env}), and checksums hold "
                              f"only within one: compare on a machine like the recorder's, or re-record here with "
                              f"{record_command(path)} for local use")
    if snapshot.key not in stored.components:
        raise SnapshotMismatch(f"{path} has no snapshot of {snapshot.key}: record it with {record_command(path)}")
    changed = changes(stored.components[snapshot.key], entry(snapshot))
    if changed:
        raise SnapshotMismatch(f"{snapshot.key} no longer reproduces its snapshot in {path}: {changed}. If the change "
                               f"is intended, re-record with {record_command(path)} and commit the diff")


def _previous(path: Path) -> tuple[SnapshotFile | None, str]:
    """The file a recording replaces (None when there is none, or none readable) and, when it cannot
    be trusted, why."""
    if not path.is_file():
        return None, ""
    try:
        return SnapshotFile.load(path), ""
    except SnapshotError as exc:
        try:
            return SnapshotFile.load(path, verified=False), str(exc)
        except SnapshotError:
            return None, str(exc)


def record(path: Path | str, snapshots: list[Snapshot], *, keep_others: bool = False) -> list[str]:
    """Write ``snapshots`` (those not ``unavailable``) to the file at ``path``; with ``keep_others``,
    beside the file's entries of other components. Returns the diff with the old file: a line per
    component added, removed or changed (and a note on what was wrong with the old file)."""
    path = Path(path)
    taken = [s for s in snapshots if not s.unavailable]
    if not taken:
        raise SnapshotError("no component produced a snapshot: nothing to record")
    float_env = taken[0].float_env
    old, problem = _previous(path)
    if problem and keep_others:
        raise SnapshotError(f"{problem}. Recording only some components (--only) would keep its other entries: "
                            f"record all of them (without --only)")
    lines = [f"note: {problem}"] if problem else []
    if old is not None:
        env = environment_difference(old.float_env, float_env)
        if env and keep_others:
            raise SnapshotError(f"{path} was recorded in another float environment ({env}): re-record all of it "
                                f"(without --only)")
        if env:
            lines.append(f"note: {path} was recorded in another float environment ({env})")
    before = old.components if old is not None else {}
    after = {**(before if keep_others else {}), **{s.key: entry(s) for s in taken}}
    SnapshotFile(path, float_env, after).save()
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            lines.append(f"added    {key}")
        elif key not in after:
            lines.append(f"removed  {key}")
        elif changes(before[key], after[key]):
            lines.append(f"changed  {key}: {changes(before[key], after[key])}")
    return lines
