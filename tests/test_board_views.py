"""The results wing (mibench.board): the schema from the declarations, a new evaluator's metric in
every view, the direction-aware worst case, ranks with ties, the pivot's floor marks and the
bootstrap intervals, each against values worked out by hand."""

import json
import math

import pandas as pd
import pytest

from mibench import board, regression
from mibench import leaderboard as lb
from mibench.board.intervals import interval
from mibench.board.schema import BoardSchema, MetricColumn
from mibench.board.views import AT_FLOOR, NEAR_FLOOR, default_rows, floor, tied_ranks
from mibench.cli import main
from mibench.errors import LeaderboardError
from mibench.records import RunRecord
from mibench.site import build_site
from mibench.spec import resolve

ACC = {"name": "attack_acc_top1", "higher_is_better": True, "fraction": True}
LEAK = {"name": "leak_score", "higher_is_better": False, "description": "a plugin's metric: lower leaks more"}
SPECS = {"attack_acc_top1": ACC, "leak_score": LEAK}
BUDGET = {"classes": [0, 1], "per_class": 5, "seeds": 2}  # 20 reconstructions a run


def _record(defense, attack, seed, acc, leak, control=False, budget=BUDGET, per_class=None):
    spec = resolve("tiny", defense, attack, "quick", seed=seed, control=control)
    return RunRecord(spec=spec.to_dict(), config_hash=spec.config_hash, natural_acc=0.9, evaluator_acc=0.95,
                     metrics={"attack_acc_top1": acc, "leak_score": leak}, metric_specs=SPECS, budget=budget,
                     per_class=per_class or {}, timings={"total": 1.0})


def _row(defense, attack, value, lo=math.nan, hi=math.nan, control=False, metric="leak_score"):
    """A board row at the default strength (its config hash is the one the suite resolves)."""
    spec = resolve("tiny", defense, attack, "quick", control=control)
    return {"suite": "tiny", "profile": "quick", "defense": defense, "attack": attack, "control": control,
            "config_hash": spec.config_hash, "natural_acc": 0.9, metric: value, f"{metric}_lo": lo, f"{metric}_hi": hi}


def _acc(*args, **kwargs):
    return _row(*args, **kwargs, metric="attack_acc_top1")


def test_the_schema_follows_the_declarations_and_older_records_take_the_installed_ones():
    old_top1 = {"name": "attack_acc_top1", "higher_is_better": True, "kind": "number"}  # before fraction/diagnostic
    std = {"name": "attack_acc_top1_std", "higher_is_better": False}
    specs = {"attack_acc_top1": old_top1, "attack_acc_top1_std": std,
             "leak_score": LEAK, "leak_note": {"name": "leak_note", "higher_is_better": False, "kind": "text"}}
    schema = BoardSchema.from_specs(specs, ["gone", "leak_score"])
    assert schema.primary == "leak_score" and BoardSchema.from_specs(specs).primary == "attack_acc_top1"
    assert schema.names() == ["attack_acc_top1", "leak_score"]  # the std is a diagnostic, as accuracy.py declares
    top1, leak = schema.metric("attack_acc_top1"), schema.metric("leak_score")
    assert (top1.fraction, top1.tolerance, top1.sign) == (True, "abs", 1)
    assert (leak.fraction, leak.tolerance, leak.sign, leak.private_side) == (False, "rel", -1, "higher")
    assert schema.checked() == ["natural_acc", "attack_acc_top1", "leak_score"]
    assert schema.shown()[-3:] == ["leak_score", "attack_queries", "leak_note"]
    columns = schema.csv_columns()
    at = columns.index("attack_acc_top1")
    assert columns[at:at + 10] == ["attack_acc_top1", "attack_acc_top1_sd", "attack_acc_top1_lo", "attack_acc_top1_hi",
                                   "attack_acc_top1_std", "attack_acc_top1_std_sd", "leak_score", "leak_score_sd",
                                   "leak_score_lo", "leak_score_hi"]
    with pytest.raises(LeaderboardError, match="no metric 'fid'; its metrics: attack_acc_top1, leak_score"):
        schema.metric("fid")


def test_intervals_by_hand_and_deterministic():
    leak = MetricColumn("leak_score", False)
    seeds = [_record("none", "plg", s, 0.5, v) for s, v in enumerate([1.0, 2.0, 3.0])]
    # over seeds only: a resample of three 1.0s has probability 1/27 = 3.7 % > 2.5 %, so the ends are 1 and 3
    assert interval(seeds, leak) == (1.0, 3.0)
    assert all(math.isnan(e) for e in interval(seeds[:1], leak))  # one seed, no reconstructions: no interval
    acc = MetricColumn("attack_acc_top1", True, fraction=True)
    # one run of 100 reconstructions at 0.5: Binomial(100, 0.5) / 100, sd 0.05, so about 0.5 -+ 1.96 x 0.05
    lo, hi = interval([_record("none", "plg", 0, 0.5, 1.0, budget={"classes": [0], "per_class": 100, "seeds": 1})], acc)
    assert lo == pytest.approx(0.402, abs=0.012) and hi == pytest.approx(0.598, abs=0.012)
    # each class all hits or none, seeds alike: neither level varies
    blank = [_record("none", "plg", s, 0.5, 1.0, per_class={"attack_acc_top1": {"0": 1.0, "1": 0.0}}) for s in range(3)]
    assert interval(blank, acc) == (0.5, 0.5)
    alone = lb.aggregate([("a", r) for r in seeds])
    beside = lb.aggregate([("a", r) for r in seeds] + [("b", _record("calor", "plg", 0, 0.9, 7.0))])
    row = beside[beside.defense == "none"].iloc[0]
    assert (row.leak_score_lo, row.leak_score_hi) == (alone.leak_score_lo[0], alone.leak_score_hi[0]) == (1.0, 3.0)


def test_the_worst_case_follows_the_metric_direction():
    frame = pd.DataFrame([_row("none", "plg", 2.0), _row("none", "gmi", 5.0), _row("calor", "plg", 4.0),
                          _row("calor", "gmi", 3.0), _row("mid", "plg", 6.0), _row("mid", "gmi", 7.0)])
    lower_leaks = BoardSchema.from_specs({"leak_score": LEAK})
    ranked = board.worst_case(frame, lower_leaks)  # the worst case is the minimum; the highest is most private
    assert ranked[["rank", "defense", "worst_leak_score", "worst_attack"]].values.tolist() == [
        [1, "mid", 6.0, "plg"], [2, "calor", 3.0, "gmi"], [3, "none", 2.0, "plg"]]
    higher_leaks = BoardSchema.from_specs({"leak_score": {**LEAK, "higher_is_better": True}})
    ranked = board.worst_case(frame, higher_leaks)  # the maximum; the lowest is most private
    assert ranked[["rank", "defense", "worst_leak_score", "worst_attack"]].values.tolist() == [
        [1, "calor", 4.0, "plg"], [2, "none", 5.0, "gmi"], [3, "mid", 7.0, "gmi"]]


def test_defenses_that_cannot_be_told_apart_share_a_rank():
    assert tied_ranks([(0.3, 0.3), (0.3, 0.3), (0.5, 0.5)], [0, 0, 0]) == [1, 1, 3]  # equal values: competition
    # a overlaps b, b overlaps c, a is apart from c: c is behind one defense only
    assert tied_ranks([(0.25, 0.35), (0.30, 0.45), (0.40, 0.50)], [0, 0, 0]) == [1, 1, 2]
    assert tied_ranks([(0.1, 0.1), (0.0, 0.0)], [0, 1]) == [1, 2]  # a defense that missed attacks ranks after
    frame = pd.DataFrame([  # worst cases: none and calor overlap, mid is apart from both, tl missed gmi
        _acc("none", "plg", 0.30, 0.25, 0.35), _acc("none", "gmi", 0.10, 0.05, 0.15),
        _acc("calor", "plg", 0.33, 0.30, 0.36), _acc("calor", "gmi", 0.2, 0.1, 0.3),
        _acc("mid", "plg", 0.50, 0.45, 0.55), _acc("mid", "gmi", 0.4, 0.3, 0.5),
        _acc("tl", "plg", 0.05, 0.0, 0.1)])
    ranked = board.worst_case(frame, BoardSchema.from_specs({"attack_acc_top1": ACC}))
    assert ranked[["rank", "defense", "attacks"]].values.tolist() == [
        [1, "none", "2/2"], [1, "calor", "2/2"], [3, "mid", "2/2"], [4, "tl", "1/2"]]


def test_the_pivot_marks_the_cells_that_do_not_beat_the_blank_control():
    acc = BoardSchema.from_specs({"attack_acc_top1": ACC})
    rows = [_acc("none", "blank", 0.2, 0.2, 0.2, control=True),
            _acc("none", "plg", 0.8, 0.7, 0.9),  # beats it
            _acc("calor", "plg", 0.25, 0.15, 0.35),  # its interval contains 0.2
            _acc("mid", "plg", 0.1, 0.05, 0.2),  # at or below 0.2
            _acc("calor", "gmi", 0.18),  # no interval: its mean is below
            _acc("none", "plg", 0.05, 0.0, 0.1, control=True)]  # a control: unmarked
    grid = board.pivot(pd.DataFrame(rows), acc)
    assert floor(pd.DataFrame(rows), acc.metric()) == ("blank", 0.2)
    assert grid.loc["none", "plg"] == "0.8 [0.7, 0.9]"
    assert grid.loc["calor", "plg"] == f"0.25 [0.15, 0.35] {NEAR_FLOOR}"
    assert grid.loc["mid", "plg"] == f"0.1 [0.05, 0.2] {AT_FLOOR}"
    assert grid.loc["calor", "gmi"] == f"0.18 {AT_FLOOR}"
    assert grid.loc["(control)", "plg"] == "0.05 [0, 0.1]" and grid.loc["(control)", "blank"] == "0.2 [0.2, 0.2]"
    leak = BoardSchema.from_specs({"leak_score": LEAK})  # lower leaks more: the private side is above the floor
    grid = board.pivot(pd.DataFrame([_row("none", "blank", 9.0, control=True), _row("none", "plg", 5.0, 4.0, 6.0),
                                     _row("calor", "plg", 10.0, 9.5, 11.0), _row("mid", "plg", 8.5, 8.0, 9.5)]), leak)
    assert grid.loc["none", "plg"] == "5 [4, 6]"
    assert grid.loc["calor", "plg"] == f"10 [9.5, 11] {AT_FLOOR}"
    assert grid.loc["mid", "plg"] == f"8.5 [8, 9.5] {NEAR_FLOOR}"


@pytest.fixture
def plugin_board(tmp_path):
    """A tiny board whose records carry a new evaluator's metric, ``leak_score``, and a blank control."""
    for seed, (acc, leak) in enumerate([(0.8, 2.0), (0.7, 2.5), (0.9, 1.5)]):
        lb.add_record(tmp_path, _record("none", "plg", seed, acc, leak))
        lb.add_record(tmp_path, _record("calor", "plg", seed, acc - 0.3, leak + 3.0))
        lb.add_record(tmp_path, _record("none", "blank", seed, 0.5, 9.0, control=True))
    return tmp_path


def test_a_new_evaluators_metric_reaches_show_pivot_site_and_check(plugin_board, capsys):
    show = ["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(plugin_board), "--markdown"]
    assert main(show) == 0
    assert "| attack_acc_top1 | leak_score | attack_queries |" in capsys.readouterr().out
    assert main(show + ["--pivot", "leak_score"]) == 0
    out = capsys.readouterr().out
    assert "| rank | defense | natural_acc | worst_leak_score | worst_attack | attacks |" in out
    assert "| 1 | calor | 0.9 | 5 ± 0.5 [4.5, 5.5] | plg | 1/1 |" in out  # higher leak_score: more private
    assert "≤ floor: the cell's 95 % interval lies wholly at or higher than the mean of the blank control (9)" in out
    assert main(show + ["--pivot", "fid"]) == 2
    build_site(plugin_board, ["tiny-quick"], plugin_board / "site")
    page = (plugin_board / "site" / "tiny-quick.html").read_text()
    assert "<th>leak_score</th>" in page and "<th>worst_attack_acc_top1</th>" in page

    stale = {"tiny-quick": {"natural_acc": 0.005, "attack_acc_top1": 0.2}}  # derived before leak_score existed
    (plugin_board / "tolerances.json").write_text(json.dumps(stale))
    with pytest.raises(LeaderboardError, match="no tolerance for leak_score"):
        regression.check_board(plugin_board, "tiny-quick", lambda spec, out: None)
    tolerances = regression.write_tolerances(plugin_board, "tiny-quick")
    assert set(tolerances["leak_score"]) == {"rel"} and set(tolerances["attack_acc_top1"]) == {"abs"}

    def tenfold(spec, out):  # the plugin's metric changed its unit
        rec = next(r for _, r in lb.read_records(plugin_board, "tiny-quick")
                   if r.config_hash == spec.config_hash and r.spec["seed"] == spec.seed)
        return RunRecord(**{**vars(rec), "metrics": {**rec.metrics, "leak_score": rec.metrics["leak_score"] * 10}})

    result, = regression.check_board(plugin_board, "tiny-quick", tenfold, rows=[0])
    assert [(c["metric"], c["ok"]) for c in result.comparisons] == [
        ("natural_acc", True), ("attack_acc_top1", True), ("leak_score", False)]


def test_a_board_mixing_two_judges_is_an_error_naming_both():
    import dataclasses

    def record(weights, judge=""):
        return RunRecord(spec={}, config_hash="c", metrics={}, natural_acc=1.0, evaluator_acc=1.0,
                         evaluator_arch="resnet_small", evaluator_weights=weights,
                         stage_sha256={"judge": judge} if judge else {})

    v2 = record({"judge-v2.pt": "aa"})
    BoardSchema.from_records([("a.json", v2), ("b.json", dataclasses.replace(v2))])  # one judge: fine
    with pytest.raises(LeaderboardError, match=r"different judges.*judge-v2.pt.*a.json.*judge-v3.pt.*b.json"):
        BoardSchema.from_records([("a.json", v2), ("b.json", record({"judge-v3.pt": "bb"}))])
    trained = [("a.json", record({}, "h1")), ("b.json", record({})), ("c.json", record({}, "h2"))]
    with pytest.raises(LeaderboardError, match=r"h1 \(a.json\); h2 \(c.json\)"):
        BoardSchema.from_records(trained)
    BoardSchema.from_records(trained[:2])  # a record without the checksum mixes with nothing


def test_a_row_whose_component_cannot_be_resolved_is_left_out_with_a_warning_naming_why(caplog):
    frame = pd.DataFrame([_row("none", "plg", 0.5), {**_row("none", "plg", 0.4), "defense": "gone-plugin"}])
    with caplog.at_level("WARNING"):
        kept = default_rows(frame)
    assert kept["defense"].tolist() == ["none"]
    assert "gone-plugin x plg: left out of the views of default rows" in caplog.text and "gone-plugin" in caplog.text
