"""``mibench frontier``: ladders resolved up front, runs resumed from the board, the figure drawn
readable (no overlapping labels, lines in ladder order, the blank control's floor drawn)."""

from pathlib import Path

from dataclasses import dataclass

import pandas as pd
import pytest

from mibench.cli import main
from mibench.defense import Defense, Ladder
from mibench.defenses.calor import CALoR
from mibench.defenses.ls import LabelSmoothing
from mibench.registries import DEFENSES
from mibench.errors import ConfigError
from mibench.frontier import parse_ladders, pending, plan, run_frontier
from mibench.frontier_figure import FLOOR_LABEL, figure, ladder_order, pareto
from mibench.labels import overlaps
from mibench.leaderboard import load
from mibench.runner import RunOptions, run

class NoKnob(Defense):
    name, version, paper, code = "noknob", "1", "test", "tests/test_frontier.py"

    @dataclass(frozen=True)
    class Params:
        x: int = 0


ARGS = ["frontier", "--suite", "tiny", "--profile", "quick", "--attack", "plg", "--device", "cpu"]


def test_ladder_values_are_parsed_and_zipped():
    ladders = parse_ladders(["calor.rank=2,3", "calor.ca=true,false"])
    assert ladders["calor"] == Ladder("rank,ca", ({"rank": "2", "ca": "true"}, {"rank": "3", "ca": "false"}))
    assert Ladder.of("beta", (0.1, 0.2)).points == ({"beta": 0.1}, {"beta": 0.2})
    for bad in (["calor.rank"], ["rank=2,3"], ["calor.rank=2,3", "calor.ca=true"]):
        with pytest.raises(ConfigError):
            parse_ladders(bad)


def test_every_point_is_resolved_before_any_training():
    with pytest.raises(ConfigError, match="has no parameter 'rnk'"):
        plan("tiny", "quick", "plg", ["calor"], [0], parse_ladders(["calor.rnk=2,3"]))
    with pytest.raises(ConfigError, match="rank"):
        plan("tiny", "quick", "plg", ["calor"], [0], parse_ladders(["calor.rank=2,-3"]))
    DEFENSES.register()(NoKnob)
    try:
        with pytest.raises(ConfigError, match="'noknob' declares no strength ladder"):
            plan("tiny", "quick", "plg", ["noknob"], [0])
        assert {p.defense for p in plan("tiny", "quick", "plg", ["noknob"], [0], parse_ladders(["noknob.x=1,2"]))} == \
            {"none", "noknob"}
    finally:
        DEFENSES.unregister("noknob")
    with pytest.raises(ConfigError, match="--seeds"):
        plan("tiny", "quick", "plg", ["calor"], [])
    with pytest.raises(ConfigError, match="not in the frontier"):
        plan("tiny", "quick", "plg", ["calor"], [0], parse_ladders(["mid.beta=0.1"]))


def test_default_plan_covers_every_defense_with_a_ladder_and_none_first():
    points = plan("tiny", "quick", "plg", None, [0, 1])
    assert points[0].defense == "none" and [p.spec.seed for p in points[:2]] == [0, 1]
    assert {p.defense for p in points} >= {"none", "calor"}
    calor = [p for p in points if p.defense == "calor" and p.spec.seed == 0]
    assert [p.spec.defense_params["rank"] for p in calor] == [d["rank"] for d in CALoR.ladder.points]
    assert [p.spec.defense_params["ca"] for p in calor] == [d.get("ca", True) for d in CALoR.ladder.points]


def test_a_frontier_runs_each_point_once_resumes_and_draws(tmp_path):
    opts = RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")
    points = plan("tiny", "quick", "plg", ["calor"], [0], parse_ladders(["calor.rank=2,3"]))
    assert [p.defense for p in points] == ["none", "calor", "calor"]
    ran = []
    assert run_frontier(points[:2], tmp_path / "boards", lambda spec: ran.append(run(spec, opts))) == 2
    assert [p.spec.defense_params["rank"] for p in pending(points, tmp_path / "boards")] == [3]
    assert main(ARGS + ["--defenses", "calor", "--ladder", "calor.rank=2,3", "--seeds", "0",
                        "--out", str(tmp_path / "runs"), "--leaderboard-dir", str(tmp_path / "boards")]) == 0
    assert pending(points, tmp_path / "boards") == []
    (tmp_path / "boards" / "tiny-quick-frontier.png").unlink()
    records = sorted((tmp_path / "boards" / "records").rglob("*.json"))
    assert main(ARGS + ["--draw-only", "--out", str(tmp_path / "runs"), "--leaderboard-dir", str(tmp_path / "boards")]) == 0
    assert sorted((tmp_path / "boards" / "records").rglob("*.json")) == records  # ran nothing, though calor's
    # default ladder is not on the board
    board = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv")
    assert sorted(board.strength.astype(object).fillna("")) == ["", "rank=2;ca=True", "rank=3;ca=True"]
    assert (tmp_path / "boards" / "tiny-quick-frontier.png").stat().st_size > 10_000


def test_pareto_marks_the_points_no_other_dominates():
    frame = pd.DataFrame({"natural_acc": [0.99, 0.98, 0.97, 0.96], "attack_acc_top1": [0.9, 0.5, 0.6, 0.5]})
    assert pareto(frame, "attack_acc_top1").tolist() == [True, True, False, False]
    frame["knn_dist"] = -frame["attack_acc_top1"]  # lower leaks more: the same points, mirrored
    assert pareto(frame, "knn_dist", higher_leaks_more=False).tolist() == [True, True, False, False]


def test_the_mnist_frontier_covers_every_built_in_defense_with_the_suites_ladders():
    points = plan("mnist", "full", "plg", None, [0])
    assert {p.defense for p in points} >= {"none", "calor", "mid", "bido", "ls", "tl"}
    bido = [p.spec.defense_params for p in points if p.defense == "bido"]
    assert [(d["measure"], d["lambda_x"], d["lambda_y"]) for d in bido] == \
        [("coco", 0.25, 12.5), ("coco", 0.5, 25.0), ("coco", 1.0, 50.0), ("coco", 2.0, 100.0)]
    mid = [p for p in points if p.defense == "mid"]
    assert mid[-1].spec.defense_params["beta"] == 0.2 and len({p.spec.config_hash for p in points}) == len(points)
    # the suite's NegLS ladder stops at -0.1: its target recipe cannot train -0.2 (the loss is unbounded below)
    assert [p.spec.defense_params["alpha"] for p in points if p.defense == "ls"] == [0.1, 0.05, -0.05, -0.1]


def test_bad_frontier_input_exits_2_with_a_message_before_any_run(tmp_path, capsys):
    out = ["--out", str(tmp_path / "runs")]
    assert main(ARGS + ["--defenses", "mid", "--ladder", "mid.beta=0.1,-1"] + out) == 2
    assert "beta" in capsys.readouterr().err
    assert main(ARGS + ["--defenses", "midd"] + out) == 2
    assert "unknown defense 'midd'" in capsys.readouterr().err
    assert main(ARGS + ["--ladder", "tl.freeze=0.5,1.5"] + out) == 2
    assert "freeze" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert main(ARGS + ["--defenses", "ls", "--seeds", "0", "--dry-run"] + out) == 0
    assert capsys.readouterr().out.count("seed 0") == 1 + len(LabelSmoothing.ladder.points)


def test_a_frontier_pins_an_imported_judge_and_suite_parameters_in_every_run_but_refuses_a_target(tmp_path, capsys):
    pins = {"evaluator": "ab" * 32}
    points = plan("celeba64", "tiny", "plg", ["mid"], [0], weights=pins, suite_params={"target": "vgg16"})
    assert all(p.spec.weights == pins and p.spec.suite_params["target"] == "vgg16" for p in points)
    with pytest.raises(ConfigError, match=r"a frontier trains a target per defense strength"):
        plan("mnist", "full", "plg", ["mid"], [0], weights={"target": "ab" * 32})
    out = ["--out", str(tmp_path / "runs")]
    assert main(ARGS + ["--set", "defense.beta=0.1"] + out) == 2
    assert "takes --set suite.PARAM=VALUE only (got defense)" in capsys.readouterr().err


BOARDS = Path(__file__).resolve().parents[1] / "leaderboards" / "v2"  # the protocol-2 full board


def test_the_mnist_figure_is_readable_labels_apart_lines_in_ladder_order_and_the_floor_drawn():
    import matplotlib.pyplot as plt

    frame, schema = load(BOARDS, "mnist")
    fig = figure(frame, schema, "plg", "mnist")
    try:
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == len(schema.names())
        texts = [t for ax in panels for t in ax.texts]
        assert len(texts) > 4 * len(panels)  # every ladder point is labelled
        assert overlaps(texts) == [], "labels overlap"
        for ax in panels:  # the floor, named, in the panel of every metric (the blank control has them all)
            assert FLOOR_LABEL in [t.get_text() for t in ax.texts]
            assert ax.get_xscale() == "log" and ax.xaxis_inverted()
        calor = frame[(frame.attack == "plg") & (frame.defense == "calor") & ~frame.control.astype(bool)]
        expected = [f"rank={d['rank']};ca={d.get('ca', True)}" for d in CALoR.ladder.points]
        assert ladder_order(calor)["strength"].tolist() == expected  # the ladder's order, not accuracy's
        line = next(c for c in panels[0].containers if c.get_label() == "calor").lines[0]
        assert list(line.get_xdata()) == pytest.approx((1 - ladder_order(calor)["natural_acc"]).tolist())
    finally:
        plt.close(fig)


def test_a_variant_row_is_not_drawn_as_a_point_of_its_defenses_ladder():
    import matplotlib.pyplot as plt

    frame, schema = load(BOARDS, "mnist")
    calor = frame[(frame.attack == "plg") & (frame.defense == "calor") & ~frame.control.astype(bool)]
    variant = calor.iloc[[0]].assign(variant="defense.ca_lr=0.5", config_hash="0" * 16, natural_acc=0.5)
    figs = [figure(f, schema, "plg", "mnist") for f in (frame, pd.concat([frame, variant]))]
    try:
        lines = [next(c for c in f.axes[0].containers if c.get_label() == "calor").lines[0] for f in figs]
        assert list(lines[1].get_xdata()) == list(lines[0].get_xdata()) and len(lines[0].get_xdata()) == len(calor)
    finally:
        for f in figs:
            plt.close(f)


def test_labels_of_points_on_top_of_each_other_spread_out_with_leader_lines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mibench.labels import Label, place

    fig, ax = plt.subplots(figsize=(4, 3))
    try:
        ax.set_xlim(0, 1), ax.set_ylim(0, 1)
        fig.canvas.draw()
        annotations = place(ax, [Label(f"beta={i / 10}", 0.5, 0.5) for i in range(20)])
        assert overlaps(annotations) == []
        assert sum(a.arrow_patch is not None for a in annotations) >= 10  # those pushed away point back
        frame = ax.get_window_extent()
        assert all(frame.contains(*a.get_window_extent().p0) for a in annotations)  # inside the panel
    finally:
        plt.close(fig)
