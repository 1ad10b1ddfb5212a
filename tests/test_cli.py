"""The command line as a user types it."""

import json
from pathlib import Path

import pandas as pd
import pytest

from mibench.cli import main


def test_ls_lists_every_kind_on_standard_output(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out  # so that `mibench ls | grep` works
    for name in ("mnist", "calor", "none", "plg", "accuracy", "knn", "fid", "mcnn"):
        assert name in out


def test_unknown_names_exit_2_and_list_what_exists(capsys):
    assert main(["run", "--defense", "calorr", "--attack", "plg", "--suite", "tiny", "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "unknown defense 'calorr'" in err and "Did you mean 'calor'" in err
    assert main(["run", "--defense", "none", "--attack", "plg", "--suite", "tiny", "--profile", "slow"]) == 2
    assert "profiles: quick" in capsys.readouterr().err
    assert main(["run", "--defense", "none", "--attack", "plg", "--suite", "tiny", "--profile", "quick",
                 "--set", "defense.rank=3"]) == 2
    assert "has no parameter 'rank'" in capsys.readouterr().err
    assert main(["run", "--defense", "none", "--attack", "plg", "--set", "oops"]) == 2


def test_run_show_and_check_a_leaderboard(tmp_path, capsys):
    boards = tmp_path / "boards"
    args = ["run", "--defense", "calor", "--attack", "plg", "--suite", "tiny", "--profile", "quick",
            "--device", "cpu", "--out", str(tmp_path / "runs"), "--leaderboard-dir", str(boards),
            "--set", "attack.inversion_steps=2"]
    assert main(args) == 0
    assert "attack_acc_top1" in capsys.readouterr().err
    csv = boards / "tiny-quick.csv"
    frame = pd.read_csv(csv)
    assert len(frame) == 1 and frame.defense[0] == "calor"
    record = json.loads((boards / frame.records[0]).read_text())
    assert record["spec"]["attack_params"]["inversion_steps"] == 2
    by_class = record["per_class"]["attack_acc_top1"]  # every attacked class; equal shares, so their mean is top-1
    assert sorted(by_class, key=int) == [str(c) for c in record["budget"]["classes"]]
    assert sum(by_class.values()) / len(by_class) == pytest.approx(record["metrics"]["attack_acc_top1"])

    assert main(["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(boards)]) == 0
    assert "calor" in capsys.readouterr().out
    show = ["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(boards), "--markdown"]
    assert main([*show, "--defense", "none,calor"]) == 0
    table = capsys.readouterr().out
    assert "| calor |" in table and "attack_queries" in table
    assert main([*show, "--defense", "none"]) == 0
    assert "| calor |" not in capsys.readouterr().out
    assert main([*show, "--per-class"]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.endswith(" | ".join(by_class) + " |") and row.startswith("| calor |")

    (boards / "tolerances.json").write_text(json.dumps({"tiny-quick": {"natural_acc": 0.01, "attack_acc_top1": 0.01}}))
    check = ["leaderboard", "check", "--suite", "tiny", "--profile", "quick", "--dir", str(boards), "--device", "cpu"]
    assert main(check) == 0
    frame["natural_acc"] = frame.natural_acc.astype(float) - 0.2  # a drifted committed number
    frame.to_csv(csv, index=False)
    assert main(check) == 1
    assert "DRIFT" in capsys.readouterr().out


def test_check_without_tolerances_is_an_error(tmp_path, capsys):
    boards = tmp_path / "boards"
    assert main(["run", "--defense", "none", "--attack", "plg", "--suite", "tiny", "--profile", "quick",
                 "--device", "cpu", "--out", str(tmp_path / "runs"), "--leaderboard-dir", str(boards)]) == 0
    assert main(["leaderboard", "check", "--suite", "tiny", "--profile", "quick", "--dir", str(boards)]) == 2
    assert "tolerances.json is missing" in capsys.readouterr().err


def test_missing_leaderboard_is_an_error(tmp_path, capsys):
    assert main(["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(tmp_path)]) == 2
    assert "no leaderboard" in capsys.readouterr().err


def test_show_names_an_unknown_suite_or_profile(tmp_path, capsys):
    assert main(["leaderboard", "show", "--suite", "nosuch", "--dir", str(tmp_path)]) == 2
    assert "unknown suite 'nosuch'" in capsys.readouterr().err
    assert main(["leaderboard", "show", "--suite", "mnist", "--profile", "quik", "--dir", str(tmp_path)]) == 2
    assert "has no profile 'quik'; profiles: full, quick" in capsys.readouterr().err


def test_show_pivot_ranks_by_the_worst_case_over_the_attacks_kept(capsys):
    board = ["leaderboard", "show", "--pivot", "--markdown", "--dir", str(Path(__file__).parents[1] / "leaderboards")]
    assert main([*board, "--attack", "gmi,plg"]) == 0
    out = capsys.readouterr().out
    assert "| defense | gmi | plg |" in out
    ranked = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert ranked and all(line.endswith("/2 |") for line in ranked)
    assert "| none |" in out and main([*board, "--attack", "gmi,plg", "--defense", "mid"]) == 0
    assert "| none |" not in capsys.readouterr().out
