"""Boards from records: aggregation over seeds, concurrent writers, derived tolerances, row checks."""

import json
import multiprocessing
import math

import pandas as pd
import pytest

from mibench import board
from mibench import leaderboard as lb
from mibench import regression
from mibench.errors import LeaderboardError
from mibench.records import RunRecord

SPECS = {"attack_acc_top1": {"name": "attack_acc_top1", "higher_is_better": True, "kind": "number"},
         "knn_dist": {"name": "knn_dist", "higher_is_better": False, "kind": "number"},
         "fid_backbone": {"name": "fid_backbone", "higher_is_better": False, "kind": "text"}}


def record(seed: int, acc: float, knn: float, defense: str = "none", config: str = "c1", control: bool = False,
           attack: str = "plg"):
    spec = {"suite": "s", "profile": "quick", "defense": defense, "attack": attack, "seed": seed, "control": control,
            "defense_params": {}, "attack_params": {"alpha": 0.2}}
    return RunRecord(spec=spec, config_hash=config, natural_acc=0.99, evaluator_acc=0.995,
                     metrics={"attack_acc_top1": acc, "knn_dist": knn, "fid_backbone": "judge"}, metric_specs=SPECS,
                     budget={"classes": [0, 1, 2, 3, 4], "per_class": 4, "seeds": 2}, timings={"total": 1.0})


def test_rows_aggregate_seeds_by_hand(tmp_path):
    for seed, acc, knn in [(0, 0.5, 10.0), (1, 0.7, 14.0), (2, 0.6, 12.0)]:
        lb.add_record(tmp_path, record(seed, acc, knn))
    lb.add_record(tmp_path, record(0, 0.1, 30.0, config="c2", control=True))
    frame = pd.read_csv(tmp_path / "s-quick.csv")
    assert len(frame) == 2 and frame.control.tolist() == [False, True]
    row = frame.iloc[0]
    assert row.n_seeds == 3 and row.seeds == "0 1 2"
    assert row.attack_acc_top1 == pytest.approx(0.6) and row.attack_acc_top1_sd == pytest.approx(0.1)
    assert row.knn_dist == pytest.approx(12.0) and row.knn_dist_sd == pytest.approx(2.0)
    assert row.fid_backbone == "judge" and "fid_backbone_sd" not in frame
    assert math.isnan(frame.iloc[1].attack_acc_top1_sd)  # one seed: no spread


def test_a_new_metric_becomes_a_column_and_older_boards_still_read(tmp_path):
    lb.add_record(tmp_path, record(0, 0.5, 10.0))
    old = pd.read_csv(tmp_path / "s-quick.csv").drop(columns=["knn_dist", "knn_dist_sd", "threads"])
    old.to_csv(tmp_path / "s-quick.csv", index=False)
    lb.read_board(tmp_path / "s-quick.csv")  # fewer columns: still a board
    rec = record(1, 0.6, 11.0)
    rec.metrics["lpips"] = 0.3
    rec.metric_specs = {**SPECS, "lpips": {"name": "lpips", "higher_is_better": False, "kind": "number"}}
    lb.add_record(tmp_path, rec)
    frame = pd.read_csv(tmp_path / "s-quick.csv")
    assert "lpips" in frame and "knn_dist" in frame


def _add(args):
    folder, seed = args
    lb.add_record(folder, record(seed, 0.5, 10.0 + seed))


def test_concurrent_writers_lose_no_row(tmp_path):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_add, [(tmp_path, seed) for seed in range(8)])
    frame = pd.read_csv(tmp_path / "s-quick.csv")
    assert frame.n_seeds[0] == 8 and len(list((tmp_path / "records" / "s-quick").glob("*.json"))) == 8


def test_tolerances_are_derived_from_the_spread_over_seeds(tmp_path):
    for seed, acc, knn in [(0, 0.5, 10.0), (1, 0.7, 14.0), (2, 0.6, 12.0)]:
        lb.add_record(tmp_path, record(seed, acc, knn))
    for seed in range(3):  # a second row whose seeds agree
        lb.add_record(tmp_path, record(seed, 1.0, 5.0, defense="calor", config="c2"))
    tol = regression.write_tolerances(tmp_path, "s-quick")
    # sd_max over rows: accuracy 0.1, knn relative 2/12; allowed = 3 * sqrt(2/3) * sd_max
    assert tol["attack_acc_top1"]["abs"] == pytest.approx(3 * math.sqrt(2 / 3) * 0.1, abs=1e-4)
    assert tol["knn_dist"]["rel"] == pytest.approx(3 * math.sqrt(2 / 3) * 2 / 12, abs=1e-4)
    assert tol["natural_acc"]["abs"] == 0.005  # the floor: no spread over seeds
    assert json.loads((tmp_path / "tolerances.json").read_text())["s-quick"]["_derived"]["seeds_per_row"] == 3
    assert set(regression.load_tolerances(tmp_path, "s-quick")) == {"natural_acc", "attack_acc_top1", "knn_dist"}


def test_tolerances_need_a_row_with_two_seeds_and_scale_for_rows_with_fewer(tmp_path):
    lb.add_record(tmp_path, record(0, 0.5, 10.0))
    with pytest.raises(LeaderboardError, match="no row has 2 or more seeds"):
        regression.derive_tolerances(tmp_path, "s-quick")
    for seed, acc in [(0, 0.5), (1, 0.7), (2, 0.6)]:
        lb.add_record(tmp_path, record(seed, acc, 10.0, defense="calor", config="c2"))
    tol = regression.write_tolerances(tmp_path, "s-quick")  # from the 3-seed row only
    assert tol["attack_acc_top1"]["abs"] == pytest.approx(3 * math.sqrt(2 / 3) * 0.1, abs=1e-4)
    assert tol["_derived"]["rows"] == 1 and tol["_derived"]["rows_with_fewer_seeds"].startswith("1:")

    def rerun(spec, out):  # the 1-seed row drifts by 0.3: beyond 0.245, within 0.245 x sqrt(3) = 0.42
        return record(spec.seed, 0.8, 10.0, defense=spec.defense)

    result, = regression.check_board(tmp_path, "s-quick", rerun, rows=[1])
    assert result.ok and result.comparisons[1]["tolerance"] == pytest.approx(3 * math.sqrt(2) * 0.1, abs=1e-3)
    assert regression.scaled({"m": {"abs": 1.0, "rel": 0.5}}, 3, 3) == {"m": {"abs": 1.0, "rel": 0.5}}


def test_a_one_seed_row_gets_the_tolerance_of_its_attacks_rows_not_the_boards_worst(tmp_path):
    for seed, acc in [(0, 0.2), (1, 0.9), (2, 0.55)]:  # a GAN attack whose seeds disagree (sd 0.35)
        lb.add_record(tmp_path, record(seed, acc, 10.0, config="c1"))
    for seed, acc in [(0, 0.50), (1, 0.52), (2, 0.51)]:  # an attack whose seeds agree (sd 0.01)
        lb.add_record(tmp_path, record(seed, acc, 10.0, config="c2", attack="gmi"))
    lb.add_record(tmp_path, record(0, 0.5, 10.0, defense="calor", config="c3", attack="gmi"))  # one seed
    tol = regression.write_tolerances(tmp_path, "s-quick")
    k = 3 * math.sqrt(2 / 3)
    assert tol["attack_acc_top1"]["abs"] == pytest.approx(k * 0.35, abs=1e-4)  # the board's worst row
    binomial = math.sqrt(0.51 * 0.49 / 40)  # gmi's sd is at least one seed's sampling noise (40 images)
    assert tol["_by_attack"]["gmi"]["attack_acc_top1"]["abs"] == pytest.approx(k * binomial, abs=1e-4)
    assert tol["_by_attack"]["plg"]["attack_acc_top1"]["abs"] == pytest.approx(k * 0.35, abs=1e-4)

    def rerun(spec, out):  # the one-seed gmi row drifts by 0.4: within the board's 0.86 x sqrt(3), not gmi's
        return record(spec.seed, 0.9, 10.0, defense=spec.defense, attack=spec.attack)

    result, = regression.check_board(tmp_path, "s-quick", rerun, rows=[0])
    assert result.label.startswith("calor x gmi") and not result.ok
    failed, = [c for c in result.comparisons if not c["ok"]]
    assert failed["metric"] == "attack_acc_top1" and failed["tolerance"] == pytest.approx(
        tol["_by_attack"]["gmi"]["attack_acc_top1"]["abs"] * math.sqrt(3), abs=1e-3)


def test_each_row_gets_tolerances_from_its_own_spread_floored_by_the_perturbed_deviation(tmp_path):
    for seed, acc, knn in [(0, 0.5, 10.0), (1, 0.7, 14.0), (2, 0.6, 12.0)]:
        lb.add_record(tmp_path, record(seed, acc, knn))
    for seed in range(3):  # a second row whose seeds agree
        lb.add_record(tmp_path, record(seed, 1.0, 5.0, defense="calor", config="c2"))
    board = {"natural_acc": 0.005, "attack_acc_top1": 0.3, "knn_dist": {"rel": 1.0},
             "_derived": {"seeds_per_row": 3, "perturbed": {"rows": 2, "knn_dist": 0.1}}}
    (tmp_path / "tolerances.json").write_text(json.dumps({"s-quick": board}))
    (agreed, mode, tight), (_, _, spread) = regression.explain(tmp_path, "s-quick")  # calor sorts first
    assert agreed.startswith("calor x plg") and "predate stage checksums" in mode
    k = 3 * math.sqrt(2 / 3)
    assert spread["attack_acc_top1"].allowed == pytest.approx(k * 0.1)  # its sd over seeds (binomial: 0.077)
    assert spread["knn_dist"].allowed == pytest.approx(k * 2 / 12 * 12)
    assert tight["attack_acc_top1"].allowed == pytest.approx(2 / (40 * 3))  # two of its 120 reconstructions
    assert tight["knn_dist"].allowed == pytest.approx(2 * 0.1 * 5.0)  # twice the perturbed deviation, relative
    assert tight["natural_acc"].allowed == 0.005

    def rerun(spec, out):  # both rows move by 0.03: beyond the tight row's tolerance, within the spread one's
        acc = 0.97 if spec.defense == "calor" else [0.53, 0.73, 0.63][spec.seed]
        return record(spec.seed, acc, 5.0 if spec.defense == "calor" else [10.0, 14.0, 12.0][spec.seed],
                      defense=spec.defense)

    tight_check, spread_check = regression.check_board(tmp_path, "s-quick", rerun)
    assert spread_check.ok and not tight_check.ok and not tight_check.exact
    assert [c["metric"] for c in tight_check.comparisons if not c["ok"]] == ["attack_acc_top1"]


def test_check_recomputes_only_the_chosen_rows(tmp_path):
    lb.add_record(tmp_path, record(0, 0.5, 10.0))
    lb.add_record(tmp_path, record(0, 0.9, 20.0, defense="calor", config="c2"))
    (tmp_path / "tolerances.json").write_text(json.dumps({"s-quick": {"attack_acc_top1": 0.05, "natural_acc": 0.005,
                                                                      "knn_dist": {"rel": 1.0}}}))
    calls = []

    def rerun(spec, out):
        calls.append(spec.defense)
        return record(spec.seed, 0.52, 10.0, defense=spec.defense)

    results = regression.check_board(tmp_path, "s-quick", rerun, rows=[0])  # rows sort by defense: calor first
    assert calls == ["calor"] and not results[0].ok  # 0.52 vs 0.9
    assert regression.check_board(tmp_path, "s-quick", rerun, rows=[1])[0].ok
    with pytest.raises(LeaderboardError, match="no row 5"):
        regression.check_board(tmp_path, "s-quick", rerun, rows=[5])


def test_perturbed_records_widen_the_tolerances_to_twice_their_deviation(tmp_path):
    for seed, acc, knn in [(0, 0.5, 10.0), (1, 0.7, 14.0), (2, 0.6, 12.0)]:
        lb.add_record(tmp_path, record(seed, acc, knn))
    other = tmp_path / "other"
    for seed, acc, knn in [(0, 0.5, 6.0), (1, 0.6, 6.0), (2, 0.6, 6.0)]:  # knn mean 6 vs 12: 50 % off
        rec = record(seed, acc, knn)
        rec.float_env = {"threads": 1, "env": {"ATEN_CPU_CAPABILITY": "default"}}
        (other / f"s{seed}").mkdir(parents=True)
        (other / f"s{seed}" / "record.json").write_text(rec.to_json())
    tol = regression.write_tolerances(tmp_path, "s-quick", other)
    assert tol["knn_dist"]["rel"] == pytest.approx(1.0)  # 2 x 0.5, above the seed rule (0.41)
    assert tol["attack_acc_top1"]["abs"] == pytest.approx(3 * math.sqrt(2 / 3) * 0.1, abs=1e-4)  # seed rule wins
    assert tol["_derived"]["perturbed"]["knn_dist"] == 0.5
    assert "default" in tol["_derived"]["perturbed"]["float_env"][0]
    with pytest.raises(LeaderboardError, match="no records under"):
        regression.write_tolerances(tmp_path, "s-quick", tmp_path / "empty")


def _row(defense, attack, top1, control=False, config_hash=None, sd=float("nan")):
    from mibench.spec import resolve

    spec = resolve("tiny", defense, attack, "quick", control=control)
    return {"suite": "tiny", "profile": "quick", "defense": defense, "attack": attack, "control": control,
            "config_hash": config_hash or spec.config_hash, "natural_acc": 0.9, "attack_acc_top1": top1,
            "attack_acc_top1_sd": sd}


def test_per_class_results_are_averaged_over_seeds_and_records_without_them_are_left_out(tmp_path, capsys):
    from mibench.cli import main

    rows = [(0, {"0": 1.0, "1": 0.5, "10": 0.0}), (1, {"0": 0.5, "1": 0.5, "10": 1.0})]
    records = [("a", RunRecord(**{**vars(record(seed, 0.5, 1.0)), "per_class": {"attack_acc_top1": by_class}}))
               for seed, by_class in rows]
    old = ("b", record(0, 0.3, 1.0, defense="mid", config="c2"))  # written before per-class numbers were stored
    frame = board.per_class([*records, old], "attack_acc_top1")
    assert frame.columns.tolist() == ["defense", "strength", "attack", "control", "config_hash", "n_seeds", "0", "1", "10"]
    assert len(frame) == 1 and frame.n_seeds[0] == 2
    assert frame.loc[0, ["0", "1", "10"]].tolist() == [0.75, 0.5, 0.5]
    assert board.per_class(records, "attack_acc_top5").empty
    variant = ("c", RunRecord(**{**vars(record(0, 0.5, 1.0, config="c3")), "variant": "defense.inference=mean",
                                 "per_class": {"attack_acc_top1": rows[0][1]}}))
    labelled = board.per_class([*records, variant], "attack_acc_top1")  # a --set row says what was set
    assert labelled.columns.tolist()[:3] == ["defense", "strength", "variant"]
    assert labelled.variant.tolist() == ["", "defense.inference=mean"]

    old[1].spec["suite"] = "tiny"  # a registered suite, for the command line
    lb.add_record(tmp_path, old[1])
    assert main(["leaderboard", "show", "--suite", "tiny", "--profile", "quick", "--dir", str(tmp_path), "--per-class"]) == 2
    assert "breaks attack_acc_top1 down by class" in capsys.readouterr().err


def test_the_pivot_and_the_worst_case_over_attacks_use_the_default_strength_rows():
    schema = board.BoardSchema.from_specs(SPECS)
    frame = pd.DataFrame([
        _row("none", "plg", 0.8, sd=0.1), _row("none", "gmi", 0.6),
        _row("calor", "plg", 0.3), _row("calor", "gmi", 0.5),
        _row("calor", "plg", 0.01, config_hash="0123456789abcdef"),  # a frontier point: not the default
        _row("none", "plg", 0.1, control=True),
        _row("mid", "plg", 0.2),  # attacked by one of the two attacks only
    ])
    grid = board.pivot(frame, schema)
    assert list(grid.index) == ["none", "calor", "mid", "(control)"] and list(grid.columns) == ["gmi", "plg"]
    assert grid.loc["none", "plg"] == "0.8 ± 0.1" and grid.loc["calor", "plg"] == "0.3" and grid.loc["mid", "gmi"] == ""
    ranked = board.worst_case(frame, schema)
    assert ranked[["rank", "defense", "worst_attack", "attacks"]].values.tolist() == [
        [1, "calor", "gmi", "2/2"], [2, "none", "plg", "2/2"], [3, "mid", "plg", "1/2"]]  # incomplete: last
    assert ranked["worst_attack_acc_top1"].tolist() == [0.5, 0.8, 0.2]
