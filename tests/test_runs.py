"""End-to-end behaviour of a run: records, leaderboard rows, caching across seeds, resume."""

import json

import pandas as pd
import torch
import pytest

from mibench import leaderboard as lb
from mibench import regression
from mibench.records import RunRecord
from mibench.errors import LeaderboardError
from mibench.runner import Pipeline, RunOptions, run
from mibench.spec import RunSpec, resolve


def options(tmp_path, **kw):
    return RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards", **kw)


def test_run_writes_record_and_a_leaderboard_row(tmp_path):
    spec = resolve("tiny", "calor", "plg", "quick", seed=3)
    record = run(spec, options(tmp_path))
    frame = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv")
    assert list(frame.columns[:len(lb.IDENTITY)]) == lb.IDENTITY
    row = frame.iloc[0]
    assert (row.defense, row.attack, str(row.seeds), row.config_hash) == ("calor", "plg", "3", spec.config_hash)
    assert row.attack_acc_top1 == pytest.approx(record.metrics["attack_acc_top1"], abs=1e-6)
    stored = RunRecord.read(tmp_path / "boards" / row.records)
    assert RunSpec.from_dict(stored.spec) == spec
    assert stored.spec["defense_params"]["rank"] == 3  # the suite's explicit override
    assert stored.spec["defense_params"]["ca_epochs"] == pytest.approx(0.5)  # budget scaling: 5 epochs x 0.1
    assert stored.profile["notes"] == {"all": "tiny synthetic budgets"}
    assert stored.versions["torch"] and stored.versions["mibench"]
    assert stored.components["defense"]["distribution"] == "mibench"
    assert stored.float_env["threads"] == 1 and stored.float_env["env"]["ONEDNN_MAX_CPU_ISA"]
    assert set(stored.timings) >= {"target", "evaluator", "attack", "evaluate", "total"}
    assert stored.metric_specs["knn_dist"]["higher_is_better"] is False


def test_seeds_of_one_config_aggregate_into_one_row(tmp_path):
    first = run(resolve("tiny", "none", "plg", "quick", seed=0), options(tmp_path))
    run(resolve("tiny", "none", "plg", "quick", seed=0), options(tmp_path))
    frame = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv")
    assert len(frame) == 1 and frame.n_seeds[0] == 1
    second = run(resolve("tiny", "none", "plg", "quick", seed=1), options(tmp_path))
    frame = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv")
    assert len(frame) == 1 and frame.n_seeds[0] == 2 and frame.seeds[0] == "0 1"
    values = [first.metrics["knn_dist"], second.metrics["knn_dist"]]
    assert frame.knn_dist[0] == pytest.approx(sum(values) / 2, rel=1e-5)
    assert frame.knn_dist_sd[0] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5, rel=1e-4)
    # another seed reuses the target, the evaluator and its private features; it retrains the GAN
    assert {"targets", "evaluators", "features"} <= set(second.cache["reused"])
    assert "attacks" in second.cache["built"]
    control = run(resolve("tiny", "none", "plg", "quick", control=True), options(tmp_path))
    frame = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv")
    assert len(frame) == 2 and frame.control.tolist() == [False, True]
    assert control.spec["attack_params"]["alpha"] == 0.0 and control.spec["attack_params"]["inversion_steps"] == 0


def test_an_interrupted_run_resumes_from_cached_stages(tmp_path, monkeypatch):
    spec = resolve("tiny", "none", "plg", "quick")
    from mibench.attacks.plg import PLGMI

    def interrupted(self, ctx, G):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(PLGMI, "invert", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run(spec, options(tmp_path))
    assert not (tmp_path / "boards" / "tiny-quick.csv").exists()
    assert not list((tmp_path / "runs").rglob("record.json"))
    record = run(spec, options(tmp_path))
    assert set(record.cache["reused"]) >= {"targets", "evaluators", "features", "attacks"}


def test_records_are_reproducible(tmp_path):
    spec = resolve("tiny", "none", "plg", "quick")
    a = run(spec, options(tmp_path / "a")).metrics
    b = run(spec, RunOptions(device="cpu", out=tmp_path / "b", leaderboard_dir=tmp_path / "b", cache_root=tmp_path / "c2")).metrics
    assert a == b


def test_foreign_leaderboard_is_refused_and_left_intact(tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    foreign = boards / "tiny-quick.csv"
    foreign.write_text("model,score\nx,1\n")
    with pytest.raises(LeaderboardError, match="not a mibench leaderboard"):
        run(resolve("tiny", "none", "plg", "quick"), options(tmp_path))
    assert foreign.read_text() == "model,score\nx,1\n"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()  # refused before any work


def test_a_run_refuses_to_overwrite_a_hand_edited_board_unless_told(tmp_path):
    run(resolve("tiny", "none", "plg", "quick"), options(tmp_path))
    csv = tmp_path / "boards" / "tiny-quick.csv"
    frame = pd.read_csv(csv)
    frame["my_note"] = "keep me"
    frame.loc[0, "knn_dist"] = 1.5
    frame.to_csv(csv, index=False, float_format="%.6g")
    edited = csv.read_text()
    with pytest.raises(LeaderboardError, match="would lose") as refused:
        run(resolve("tiny", "none", "plg", "quick", seed=1), options(tmp_path))
    message = str(refused.value)
    assert "column 'my_note'" in message and "column 'knn_dist': committed '1.5'" in message
    assert "--overwrite-edited-board" in message
    assert csv.read_text() == edited and len(lb.read_records(tmp_path / "boards", "tiny-quick")) == 1
    assert not list((tmp_path / "runs").rglob("*-s1"))  # refused before any work
    run(resolve("tiny", "none", "plg", "quick", seed=1), options(tmp_path, overwrite_edited_board=True))
    frame = pd.read_csv(csv)
    assert "my_note" not in frame and frame.n_seeds[0] == 2 and not lb.compare_csv(tmp_path / "boards", "tiny-quick")


def test_leaderboard_is_regenerated_from_records(tmp_path):
    run(resolve("tiny", "none", "plg", "quick"), options(tmp_path))
    csv = tmp_path / "boards" / "tiny-quick.csv"
    before = csv.read_text()
    csv.unlink()
    lb.build(tmp_path / "boards", "tiny-quick")
    assert csv.read_text() == before


def test_tolerances_read_absolute_relative_and_bare_numbers(tmp_path):
    (tmp_path / "tolerances.json").write_text(json.dumps(
        {"b": {"_why": "comment", "acc": 0.05, "knn": {"rel": 0.1}, "fid": {"abs": 1, "rel": 0.5}}}))
    tol = regression.load_tolerances(tmp_path, "b")
    assert tol == {"acc": {"abs": 0.05, "rel": 0.0}, "knn": {"abs": 0.0, "rel": 0.1}, "fid": {"abs": 1.0, "rel": 0.5}}
    with pytest.raises(LeaderboardError, match="no tolerances for board 'other'"):
        regression.load_tolerances(tmp_path, "other")


def test_output_folder_that_cannot_be_created_is_reported(tmp_path):
    from mibench.errors import CacheError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="output folder"):
        run(resolve("tiny", "none", "plg", "quick"), RunOptions(device="cpu", out=blocker / "runs"))
    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"), RunOptions(device="cpu", out=tmp_path / "ok",
                                                                          cache_root=blocker / "cache"))
    with pytest.raises(CacheError, match="cache folder"):
        pipe.preflight()


def test_a_diverging_loss_names_the_component_stage_and_step_and_caches_nothing(tmp_path, capsys):
    from mibench.cli import main

    args = ["run", "--defense", "calor", "--attack", "plg", "--suite", "tiny", "--profile", "quick", "--device", "cpu",
            "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--set", "defense.ca_lr=1e30"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "target [calor: CA fine-tune]: the loss became" in err and "at step" in err and "Traceback" not in err
    assert not list((tmp_path / "cache").glob("targets/*.pt"))  # the diverged target is not cached
    assert list((tmp_path / "cache").glob("stages/*.pt"))  # the finished LoR stage is


def test_a_calor_ca_ablation_reuses_the_cached_low_rank_stage(tmp_path):
    run(resolve("tiny", "calor", "plg", "quick"), options(tmp_path))
    again = run(resolve("tiny", "calor", "plg", "quick", overrides={"defense": {"ca_epochs": "0.2"}}), options(tmp_path))
    assert "stages" in again.cache["reused"] and "targets" in again.cache["built"]
    other_rank = run(resolve("tiny", "calor", "plg", "quick", overrides={"defense": {"rank": "2"}}), options(tmp_path))
    assert "stages" in other_rank.cache["built"]


def test_bumping_a_backbone_or_the_trainer_version_changes_the_cache_keys(monkeypatch):
    from mibench import stages
    from mibench.cache import content_key
    from mibench.models.mcnn import MCNN
    from mibench.registries import DEFENSES, SUITES

    suite = SUITES.get("tiny")()
    data = suite.load()
    profile, defense = suite.profile("quick"), DEFENSES.get("none")()
    before = content_key(stages.target_config(suite, profile, defense, data))
    monkeypatch.setattr(MCNN, "version", "99")
    bumped = content_key(stages.target_config(suite, profile, defense, data))
    monkeypatch.setattr(stages, "TRAINER_VERSION", "99")
    assert len({before, bumped, content_key(stages.target_config(suite, profile, defense, data))}) == 3


def test_a_run_that_fails_on_its_data_leaves_no_folders(tmp_path):
    from mibench.errors import DataSourceError

    with pytest.raises(DataSourceError):
        run(resolve("mnist", "none", "plg", "quick"), RunOptions(device="cpu", out=tmp_path / "runs",
                                                                 data_root=tmp_path / "nowhere",
                                                                 cache_root=tmp_path / "cache"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_defense_may_train_on_the_public_role(tmp_path):
    from mibench.defense import DefenseContext
    from mibench.models import Classifier
    from mibench.models.mcnn import MCNN
    from mibench.registries import SUITES
    from torch import nn

    suite = SUITES.get("tiny")()
    data = suite.load()
    ctx = DefenseContext(data=data, num_classes=4, make_backbone=lambda: MCNN(1, 0.125),
                         recipe=suite.profile("quick").target, device=torch.device("cpu"), seed=0)
    model = Classifier(MCNN(1, 0.125), nn.Linear(MCNN(1, 0.125).feature_dim, 8))
    losses = ctx.fit(model, data=data.public, description="public pre-training")  # public labels 4-7
    assert losses[-1] < losses[0]


def test_the_grid_marks_each_reconstruction_with_the_judges_verdict(tmp_path):
    import numpy as np
    import torch
    from PIL import Image

    from mibench.grid import FAILURE, SUCCESS, draw_grid

    images = torch.zeros(4, 1, 8, 8)
    path = draw_grid(images, torch.tensor([0, 0, 1, 1]), torch.ones(4, 1, 8, 8), torch.tensor([True, False, True, True]),
                     tmp_path / "grid.png", "title")
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)

    def count(hex_colour):
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(pixels.astype(int) - rgb).sum(1) < 30).sum())

    green, red = count(SUCCESS), count(FAILURE)
    assert red > 0 and abs(green - 3 * red) <= 0.1 * green  # three green frames, one red


def test_a_bf16_run_autocasts_the_attack_keeps_the_judge_fp32_and_caches_its_target_apart(tmp_path, monkeypatch,
                                                                                           private_cache):
    from mibench.registries import ATTACKS

    plg, seen = ATTACKS.get("plg"), []
    original = plg.run

    def watched(self, ctx):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return original(self, ctx)

    monkeypatch.setattr(plg, "run", watched)
    spec = resolve("tiny", "none", "plg", "quick", seed=0)
    fp32 = run(spec, options(tmp_path / "a"))
    bf16 = run(spec, options(tmp_path / "b", precision="bf16"))
    assert seen == [False, True]
    assert fp32.float_env["precision"] == "fp32" and bf16.float_env["precision"] == "bf16"
    assert len(list((private_cache / "targets").glob("*.pt"))) == 2  # a bf16 target is never reused in fp32
    assert len(list((private_cache / "evaluators").glob("*.pt"))) == 1  # the judge is fp32 at every precision
    assert 0 <= bf16.metrics["attack_acc_top1"] <= 1 and bf16.natural_acc > 0.5


BF16_ROWS = [(d, "gmi") for d in ("bido", "calor", "ls", "mid", "tl")] + [
    ("none", a) for a in ("brep", "gmi", "kedmi", "lomma-gmi", "lomma-kedmi", "plg", "rlb")]


@pytest.mark.parametrize("defense,attack", BF16_ROWS)
def test_every_defense_and_attack_trains_and_runs_in_bf16(tmp_path, defense, attack):
    """bf16 must not break a component (BiDO's kernel solves run in fp32 inside the bf16 stage)."""
    from mibench.registries import ATTACKS, DEFENSES

    assert {d for d, _ in BF16_ROWS} == set(DEFENSES.names()) - {"none"} | {"none"}
    assert {a for _, a in BF16_ROWS} == {a for a in ATTACKS.names() if not ATTACKS.get(a).control_only}
    record = run(resolve("tiny", defense, attack, "quick", seed=0), options(tmp_path, precision="bf16"))
    assert record.natural_acc > 0.5 and 0 <= record.metrics["attack_acc_top1"] <= 1
