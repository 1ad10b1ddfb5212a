"""The components' declared claims re-tested on a board (mibench.claims, mibench.board.claims):
each contrast's difference, interval and verdict against values worked out by hand."""

import math

import pytest

from mibench import leaderboard as lb
from mibench.board.claims import FAILS, HOLDS, REVERSED, UNKNOWN, retest, summary
from mibench.claims import Defends, HelpsAttack, Stronger, Where
from mibench.cli import main
from mibench.records import RunRecord
from mibench.registries import ATTACKS, DEFENSES
from mibench.spec import resolve

ACC = {"name": "attack_acc_top1", "higher_is_better": True, "fraction": True}
LEAK = {"name": "leak_score", "higher_is_better": False}
SPECS = {"attack_acc_top1": ACC, "leak_score": LEAK}
BUDGET = {"classes": [0, 1], "per_class": 5, "seeds": 2}


def _record(defense, attack, seed, shares, natural_acc=0.9, leak=1.0, defense_params=None):
    """A record whose every attacked class is all hits or no hits (``shares``), so its accuracy's
    bootstrap never moves: the intervals below are points."""
    overrides = {"defense": defense_params} if defense_params else None
    spec = resolve("tiny", defense, attack, "quick", seed=seed, overrides=overrides)
    per_class = {"attack_acc_top1": {str(c): s for c, s in zip(BUDGET["classes"], shares)}}
    return RunRecord(spec=spec.to_dict(), config_hash=spec.config_hash, natural_acc=natural_acc, evaluator_acc=0.95,
                     metrics={"attack_acc_top1": sum(shares) / len(shares), "leak_score": leak}, metric_specs=SPECS,
                     budget=BUDGET, per_class=per_class, timings={"total": 1.0})


def _board(tmp_path, records):
    for rec in records:
        lb.add_record(tmp_path, rec)
    frame, schema = lb.load(tmp_path, "tiny-quick")
    return frame, lb.read_records(tmp_path, "tiny-quick"), schema


def _verdicts(table):
    return {(row["by"], row["row"], row["versus"]): row["verdict"] for _, row in table.iterrows()}


def test_where_selects_by_parameter():
    negative = Where("alpha", "<", 0)
    assert negative({"alpha": -0.05}) and not negative({"alpha": 0.1}) and not negative({"beta": -1})
    assert str(negative) == "alpha < 0"
    with pytest.raises(ValueError, match="op must be one of"):
        Where("alpha", "!=", 0)


def test_the_field_s_claims_are_declared_on_their_components():
    assert [type(c) for c in DEFENSES.get("ls").claims] == [Defends, HelpsAttack]
    quantified = DEFENSES.get("calor").claims[1]
    assert (quantified.relative_drop, quantified.max_accuracy_cost, quantified.against) == (0.4, 0.015, ("plg",))
    for defense in ("mid", "bido", "tl"):
        assert any(isinstance(c, Defends) and c.where is None for c in DEFENSES.get(defense).claims)
    # PLG-MI >= KED-MI >= GMI, and LOMMA lifts the attack it wraps (not inherited from KED-MI's claim)
    assert [(a, c.than) for a in ("plg", "kedmi", "lomma-gmi", "lomma-kedmi") for c in ATTACKS.get(a).claims] == [
        ("plg", "kedmi"), ("kedmi", "gmi"), ("lomma-gmi", "gmi"), ("lomma-kedmi", "kedmi")]


def test_verdicts_by_hand(tmp_path):
    records = []
    for seed in (0, 1):
        records += [_record("none", "plg", seed, [1.0, 1.0]), _record("none", "gmi", seed, [1.0, 0.0]),
                    _record("none", "kedmi", seed, [0.0, 0.0]),
                    _record("mid", "plg", seed, [0.0, 0.0], natural_acc=0.8),  # leaks less: holds
                    _record("mid", "gmi", seed, [1.0, 0.0], natural_acc=0.8),  # the same: cannot tell
                    _record("mid", "kedmi", seed, [1.0, 0.0], natural_acc=0.8)]  # leaks more: reversed
    records += [_record("ls", "plg", 0, [1.0, 1.0], defense_params={"alpha": 0.1})]  # a ladder point, no help
    table = retest(*_board(tmp_path, records))
    got = _verdicts(table)
    assert got[("mid", "mid x plg", "none x plg")] == HOLDS
    assert got[("mid", "mid x gmi", "none x gmi")] == UNKNOWN
    assert got[("mid", "mid x kedmi", "none x kedmi")] == REVERSED
    assert got[("ls", "ls x plg", "none x plg")] == UNKNOWN  # alpha = 0.1: HelpsAttack, equal cells
    # the attacks' claims, against none and against mid: PLG-MI vs KED-MI, KED-MI vs GMI
    assert got[("plg", "none x plg", "none x kedmi")] == HOLDS
    assert got[("kedmi", "none x kedmi", "none x gmi")] == REVERSED
    assert got[("kedmi", "mid x kedmi", "mid x gmi")] == UNKNOWN
    mid_plg = table[table["row"].str.startswith("mid") & (table["versus"] == "none x plg")].iloc[0]
    assert (mid_plg["left"], mid_plg["right"], mid_plg["difference"]) == (0.0, 1.0, -1.0)
    assert (mid_plg["difference_lo"], mid_plg["difference_hi"]) == (-1.0, -1.0)
    assert mid_plg["accuracy_cost"] == pytest.approx(0.1)
    assert math.isnan(table[table["by"] == "plg"].iloc[0]["accuracy_cost"])  # an attack's claim has no cost
    counted = summary(table).set_index("by").loc["mid"]
    assert (counted["contrasts"], counted[HOLDS], counted["other way"], counted[UNKNOWN]) == (3, 1, 1, 1)


def test_a_quantified_claim_needs_the_drop_and_the_accuracy(tmp_path):
    none = [_record("none", "plg", s, [1.0, 1.0]) for s in (0, 1)]
    cases = {  # CALoR's: leakage down >= 40 % at <= 1.5 points of natural accuracy
        "enough drop, no cost": ([0.0, 1.0], 0.9, HOLDS),  # drop 0.5
        "enough drop, too costly": ([0.0, 1.0], 0.88, FAILS),  # cost 0.02
        "too little drop": ([1.0, 1.0], 0.9, FAILS),  # drop 0
    }
    for name, (shares, acc, verdict) in cases.items():
        folder = tmp_path / name.replace(" ", "_").replace(",", "")
        calor = [_record("calor", "plg", s, shares, natural_acc=acc) for s in (0, 1)]
        table = retest(*_board(folder, none + calor))
        row = table[table["claim"].str.startswith("attack accuracy down by over 40 %")].iloc[0]
        assert row["verdict"] == verdict, name
        assert row["relative_drop"] == pytest.approx(1 - sum(shares) / 2)
        assert row["accuracy_cost"] == pytest.approx(0.9 - acc)


def test_a_cell_without_an_interval_cannot_tell_and_directions_follow_the_metric(tmp_path):
    # leak_score: lower leaks more, one seed each, no share of the reconstructions: no interval
    records = [_record("none", "plg", 0, [1.0, 1.0], leak=1.0), _record("mid", "plg", 0, [0.0, 0.0], leak=9.0)]
    frame, recs, schema = _board(tmp_path, records)
    assert retest(frame, recs, schema, "leak_score").iloc[0]["verdict"] == UNKNOWN
    # two seeds of each: mid's higher score means *less* leakage on this metric: its claim holds
    records = [_record("none", "plg", s, [1.0, 1.0], leak=1.0 + s) for s in (0, 1)]
    records += [_record("mid", "plg", s, [0.0, 0.0], leak=9.0 + s) for s in (0, 1)]
    frame, recs, schema = _board(tmp_path / "two", records)
    row = retest(frame, recs, schema, "leak_score").iloc[0]
    assert (row["difference"], row["verdict"]) == (8.0, HOLDS)
    # a quantified claim on it: the leakage's relative drop is (9.5 - 1.5) / 1.5, positive
    records += [_record("calor", "plg", s, [0.0, 0.0], leak=9.0 + s) for s in (0, 1)]
    frame, recs, schema = _board(tmp_path / "three", records)
    table = retest(frame, recs, schema, "leak_score")
    row = table[table["claim"].str.startswith("attack accuracy down by over 40 %")].iloc[0]
    assert row["relative_drop"] == pytest.approx(8.0 / 1.5) and row["relative_drop_lo"] > 0.4
    assert row["verdict"] == HOLDS


def test_the_cli_prints_the_verdicts_and_refuses_a_board_without_contrasts(tmp_path, capsys):
    records = [_record("none", "plg", s, [1.0, 1.0]) for s in (0, 1)]
    _board(tmp_path, records)
    assert main(["leaderboard", "claims", "--dir", str(tmp_path), "--suite", "tiny", "--profile", "quick"]) == 2
    assert "no claim of the components on tiny-quick can be tested" in capsys.readouterr().err
    _board(tmp_path, [_record("mid", "plg", s, [0.0, 1.0]) for s in (0, 1)])
    capsys.readouterr()
    assert main(["leaderboard", "claims", "--dir", str(tmp_path), "--suite", "tiny", "--profile", "quick",
                 "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| mid | mid x plg | none x plg | 0.5 | 1 | -0.5 [-0.5, -0.5] |  | 0 | holds |" in out
    assert "| limiting the mutual information" in out and "| mid | 1 | 1 | 0 | 0 |" in out
