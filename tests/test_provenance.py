"""A board is recomputed only by the component versions that wrote it, and never mixes protocols."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from mibench.board.provenance import (KINDS, check_one_protocol, check_recomputable, check_writable_protocol,
                                      protocol, version_differences)
from mibench.board.schema import BoardSchema
from mibench.errors import LeaderboardError
from mibench.leaderboard import read_records, records_dir
from mibench.records import RunRecord, write_record
from mibench.regression import check_board
from mibench.registries import ATTACKS, REGISTRIES

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"


def _record() -> RunRecord:
    """A committed record with its components' versions set to the installed ones."""
    _, rec = read_records(ROOT, "mnist-quick")[0]

    def installed(kind: str, entry: dict) -> dict:
        return {**entry, "version": REGISTRIES[kind].get(entry["name"]).version}

    comps = {field: ([installed(kind, e) for e in rec.components[field]] if isinstance(rec.components[field], list)
                     else installed(kind, rec.components[field]))
             for field, kind in KINDS if field in rec.components}
    return dataclasses.replace(rec, components=comps)


def _with(rec: RunRecord, field: str, version: str) -> RunRecord:
    return dataclasses.replace(rec, components={**rec.components, field: {**rec.components[field], "version": version}})


def test_installed_versions_differ_nowhere_and_an_old_attack_is_named():
    rec = _record()
    assert version_differences(rec) == []
    old = _with(rec, "attack", "0")
    assert version_differences(old) == [f"attack {rec.components['attack']['name']}: record 0, "
                                        f"installed {ATTACKS.get(rec.components['attack']['name']).version}"]
    gone = dataclasses.replace(rec, components={**rec.components, "attack": {"name": "no-such-attack", "version": "1"}})
    assert version_differences(gone) == ["attack no-such-attack: record 1, not installed"]


def test_check_refuses_a_board_of_another_protocol_before_running_anything(tmp_path):
    rec = _with(_record(), "suite", "1")
    write_record(records_dir(tmp_path, "mnist-quick") / "a.json", rec)
    from mibench.leaderboard import build
    build(tmp_path, "mnist-quick")
    shutil.copy(ROOT / "tolerances.json", tmp_path / "tolerances.json")

    def never(spec, out):
        raise AssertionError("the check trained something")

    with pytest.raises(LeaderboardError, match=r"suite mnist: record 1, installed .*mibench sweep"):
        check_board(tmp_path, "mnist-quick", never)
    with pytest.raises(LeaderboardError, match="other component versions"):
        check_recomputable("b", [("a.json", rec)])


def test_a_board_never_mixes_protocol_versions(tmp_path):
    rec = _record()
    v2, v9 = _with(rec, "suite", "2"), _with(rec, "suite", "9")
    assert protocol([v2, v9]) == "mnist v2, mnist v9"
    with pytest.raises(LeaderboardError, match=r"mnist v2 \(a.json\); mnist v9 \(b.json\)"):
        check_one_protocol([("a.json", v2), ("b.json", v9)])
    with pytest.raises(LeaderboardError, match="different protocol versions"):
        BoardSchema.from_records([("a.json", v2), ("b.json", v9)])
    check_one_protocol([("a.json", v2), ("b.json", v2)])


def test_a_run_refuses_to_add_a_row_to_a_board_of_another_protocol(tmp_path):
    check_writable_protocol(tmp_path, "mnist", "mnist", "3")  # no board yet: fine
    write_record(records_dir(tmp_path, "mnist") / "a.json", _with(_record(), "suite", "2"))
    check_writable_protocol(tmp_path, "mnist", "mnist", "2")
    with pytest.raises(LeaderboardError, match=r"holds records of mnist v2; this installation runs mnist v3.*"
                                               r"--leaderboard-dir"):
        check_writable_protocol(tmp_path, "mnist", "mnist", "3")
