"""``mibench leaderboard costs``: a board's cost per attack, from its records' timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mibench.board.costs import costs
from mibench.cli import main
from mibench.leaderboard import read_records

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


def test_the_quick_boards_costs_sum_its_records_timings():
    records = read_records(BOARDS, "mnist-quick")
    raw = [json.loads((BOARDS / path).read_text()) for path, _ in records]
    frame = costs(records).set_index("attack")
    plg = [r["timings"] for r in raw if r["spec"]["attack"] == "plg" and not r["spec"]["control"]]
    assert frame.loc["plg", "runs"] == len(plg) == 6
    assert frame.loc["plg", "total_h"] == pytest.approx(sum(t["total"] for t in plg) / 3600, abs=1e-3)
    assert frame.loc["plg", "mean attack s"] == pytest.approx(sum(t["attack"] for t in plg) / len(plg), abs=1e-3)
    assert frame.loc["blank (control)", "runs"] == 3 and frame.loc["all", "runs"] == len(raw) == 12
    assert frame.loc["all", "total_h"] == pytest.approx(sum(r["timings"]["total"] for r in raw) / 3600, abs=1e-3)
    assert list(frame.index[:-1]) == list(frame["total_h"].iloc[:-1].sort_values(ascending=False).index)


def test_the_command_prints_the_table(capsys):
    assert main(["leaderboard", "costs", "--profile", "quick", "--dir", str(BOARDS), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| attack | runs | total_h | mean_total_s |") and "| all | 12 |" in out
