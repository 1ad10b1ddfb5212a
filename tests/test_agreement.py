"""``mibench leaderboard agreement``: two evaluators' verdicts on the stored reconstructions of a board.

On the committed quick board, judge v2 (``accuracy-v2``, ten digits) reads every blank image as a 1,
so the blank control's successes are exactly its class-1 reconstructions, a fifth of them; judge v3
(``accuracy``) reads a blank as "no digit" and rejects every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mibench.board.agreement import agreement
from mibench.cli import main
from mibench.errors import ConfigError
from mibench.runner import RunOptions

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


def _blank_row() -> int:
    from mibench.leaderboard import read_board

    frame = read_board(BOARDS / "mnist-quick.csv")
    return int(frame.index[frame["attack"] == "blank"][0])


def test_judge_v3_rejects_every_blank_that_judge_v2_credits(tmp_path):
    pytest.importorskip("mnist")
    options = RunOptions(device="cpu", cache_root=tmp_path / "cache")
    frame = agreement(BOARDS, "mnist-quick", "accuracy-v2", "accuracy", options, [_blank_row()])
    row = frame.iloc[0]
    assert row["attack"] == "blank" and row["reconstructions"] == 3 * 40
    assert row["first_successes"] == 3 * 40 // 5  # the class-1 blanks of each seed: v2 reads a blank as a 1
    assert row["rejected_by_second"] == row["first_successes"] and row["rejected_share"] == 1.0
    reverse = agreement(BOARDS, "mnist-quick", "accuracy", "accuracy-v2", options, [_blank_row()])
    assert reverse.iloc[0]["first_successes"] == 0  # v3 credits no blank


def test_an_evaluator_without_a_yes_no_test_is_an_error_naming_those_with_one(capsys):
    with pytest.raises(ConfigError, match=r"evaluator 'knn' has no yes/no test.*accuracy, accuracy-v2"):
        agreement(BOARDS, "mnist-quick", "knn", "accuracy", RunOptions(device="cpu"))
    assert main(["leaderboard", "agreement", "--profile", "quick", "--evaluators", "accuracy"]) == 2
    assert "give two evaluators" in capsys.readouterr().err
