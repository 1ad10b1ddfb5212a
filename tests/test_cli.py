"""The command line as a user types it."""

import json
from pathlib import Path

import pandas as pd
import pytest

from mibench.cli import main
from mibench.cli._common import OLD_SPELLINGS
from mibench.defenses.ls import LabelSmoothing


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
    assert record["variant"] == frame.variant[0] == "attack.inversion_steps=2"  # what --set changed, on the row
    by_class = record["per_class"]["attack_acc_top1"]  # every attacked class; equal shares, so their mean is top-1
    assert sorted(by_class, key=int) == [str(c) for c in record["budget"]["classes"]]
    assert sum(by_class.values()) / len(by_class) == pytest.approx(record["metrics"]["attack_acc_top1"])

    assert main(["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(boards)]) == 0
    assert "calor" in capsys.readouterr().out
    show = ["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(boards), "--markdown"]
    assert main([*show, "--defenses", "none,calor"]) == 0
    table = capsys.readouterr().out
    assert "| calor |" in table and "attack_queries" in table
    assert " variant " in table.splitlines()[0] and "| attack.inversion_steps=2 |" in table
    assert main([*show, "--defenses", "none"]) == 0
    assert "| calor |" not in capsys.readouterr().out
    assert main([*show, "--per-class"]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.endswith(" | ".join(by_class) + " |") and row.startswith("| calor |")

    tolerances = {"natural_acc": 0.01, "attack_acc_top1": 0.01, "attack_acc_top5": 0.01, "knn_dist": {"rel": 0.01},
                  "fid": {"rel": 0.01}}  # every metric the board's records declare for checking
    (boards / "tolerances.json").write_text(json.dumps({"tiny-quick": tolerances}))
    check = ["leaderboard", "check", "--suite", "tiny", "--profile", "quick", "--dir", str(boards), "--device", "cpu"]
    assert main(check) == 0
    assert "1 row(s) reproduced exactly" in capsys.readouterr().err  # same float environment: exact mode
    frame["natural_acc"] = frame.natural_acc.astype(float) - 0.2  # a hand-edited committed number
    frame.to_csv(csv, index=False)
    assert main(check) == 1
    assert f"row {frame.config_hash[0]} column 'natural_acc': committed" in capsys.readouterr().err
    assert main(["leaderboard", "build", "--suite", "tiny", "--profile", "quick", "--dir", str(boards)]) == 2
    assert "--overwrite-edited-board" in capsys.readouterr().err
    assert main(["leaderboard", "build", "--suite", "tiny", "--profile", "quick", "--dir", str(boards),
                 "--overwrite-edited-board"]) == 0
    assert main(check) == 0


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


def test_check_explain_prints_each_rows_smallest_detectable_change_without_recomputing(capsys):
    boards = str(Path(__file__).parents[1] / "leaderboards")
    assert main(["leaderboard", "check", "--profile", "quick", "--dir", boards, "--explain", "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "none x plg [9f09ab858da67fd9]: exact where a rerun's float environment equals its records'" in out
    assert "│ attack_acc_top1          │ 0.289 " in out  # 3 x sqrt(2/3) x its sd over seeds, 0.118
    assert "max(0.117, 3 x sqrt(2/3) x sd 0.118)" in out  # floor: twice the deviation in another float environment


def test_show_pivot_ranks_by_the_worst_case_over_the_attacks_kept(capsys):
    board = ["leaderboard", "show", "--pivot", "--markdown", "--dir", str(Path(__file__).parents[1] / "leaderboards" / "v2")]
    assert main([*board, "--attacks", "gmi,plg"]) == 0
    out = capsys.readouterr().out
    assert "| defense | gmi | plg |" in out
    ranked = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert ranked and all(line.endswith("/2 |") for line in ranked)
    assert "| none |" in out and main([*board, "--attacks", "gmi,plg", "--defenses", "mid"]) == 0
    assert "| none |" not in capsys.readouterr().out


OLD = {  # each old spelling of OLD_SPELLINGS, as a user types it, and the one line it gets
    ("frontier", "--seeds N"): (["frontier", "--attack", "plg", "--seeds", "3"],
                                "error: --seeds takes the seeds themselves now: --seeds 0,1,2 (it was a count)"),
    ("frontier", "--defense"): (["frontier", "--attack", "plg", "--defense", "mid"],
                                "error: --defense is now --defenses (a comma list): --defenses mid"),
    ("sweep", "--defense"): (["sweep", "--defense", "mid,ls"],
                             "error: --defense is now --defenses (a comma list): --defenses mid,ls"),
    ("sweep", "--attack"): (["sweep", "--attack", "plg"],
                            "error: --attack is now --attacks (a comma list): --attacks plg"),
    ("leaderboard show", "--defense"): (["leaderboard", "show", "--defense", "mid"],
                                        "error: --defense is now --defenses (a comma list): --defenses mid"),
    ("leaderboard show", "--attack"): (["leaderboard", "show", "--pivot", "--attack", "gmi,plg"],
                                       "error: --attack is now --attacks (a comma list): --attacks gmi,plg"),
}


@pytest.mark.parametrize("old", sorted(OLD_SPELLINGS))
def test_an_old_spelling_gets_one_line_naming_the_new_one_and_exit_2(old, capsys):
    argv, line = OLD[old]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_frontier_seeds_are_the_seeds_themselves(tmp_path, capsys):
    args = ["frontier", "--suite", "tiny", "--profile", "quick", "--attack", "plg", "--defenses", "ls", "--dry-run",
            "--out", str(tmp_path / "runs")]
    assert main([*args, "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    points = 1 + len(LabelSmoothing.ladder.points)  # none, then ls's ladder
    assert out.count(" seed 0 ") == points and out.count(" seed 1 ") == points and " seed 2 " not in out
    assert main([*args, "--seeds", "4,"]) == 0  # one seed other than 0: a bare 4 would be the old count
    out = capsys.readouterr().out
    assert out.count(" seed 4 ") == points and " seed 0 " not in out


def test_a_flag_of_another_leaderboard_action_is_an_argparse_error(capsys):
    for argv in (["leaderboard", "build", "--pivot"], ["leaderboard", "show", "--explain"],
                 ["leaderboard", "check", "--dry-run"], ["leaderboard", "site", "--profile", "quick", "--out", "x"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_build_without_records_is_an_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "mnist-quick.csv").write_text("suite,profile,defense,attack,control,config_hash\n")
    assert main(["leaderboard", "build", "--dir", str(tmp_path)]) == 2  # the full board: no records, no CSV
    err = capsys.readouterr().err
    assert f"no records of board 'mnist' in {tmp_path / 'records' / 'mnist'}" in err and "Boards in" in err
    assert not (tmp_path / "mnist.csv").exists()
