"""Planted regressions must make ``leaderboard check`` fail and name where they are.

A board of tiny runs is built once; each test plants one mutant (a weakened attack, a skipped
defense stage, a changed metric convention, ...) and rechecks the board on a cold cache. The float
environment is the records' own, so the check runs in exact mode and must name the first stage
that differs and the component that owns it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys

import pytest

from mibench import leaderboard as lb
from mibench import regression
from mibench.board.schema import BoardSchema
from mibench.cli import main
from mibench.records import RunRecord
from mibench.registries import ATTACKS, DEFENSES, EVALUATORS, PRIORS
from mibench.runner import RunOptions, run
from mibench.spec import resolve
from mibench.testing import TinySuite

BOARD = "tiny-quick"
ROWS = [("calor", "plg", 0), ("calor", "plg", 1), ("none", "gmi", 0)]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, tiny_suite):
    """A board of the smallest tiny runs, with tolerances for every checked metric."""
    root = tmp_path_factory.mktemp("baseline")
    options = RunOptions(device="cpu", out=root / "runs", leaderboard_dir=root / "board", cache_root=root / "cache")
    for defense, attack, seed in ROWS:
        run(resolve("tiny", defense, attack, "quick", seed=seed), options)
    schema = BoardSchema.from_records(lb.read_records(root / "board", BOARD))
    (root / "board" / "tolerances.json").write_text(json.dumps({BOARD: {m: 0.01 for m in schema.checked()}}))
    return root / "board"


@pytest.fixture
def board(baseline, tmp_path):
    """A copy of the baseline board that a test may edit."""
    return shutil.copytree(baseline, tmp_path / "board")


def check(board, tmp_path, attack: str | None = None) -> list[regression.RowCheck]:
    """The board's rows (those of ``attack`` when given) recomputed on a cold cache."""
    options = RunOptions(device="cpu", out=tmp_path / "check", write_leaderboard=False, cache_root=tmp_path / "cold")
    frame = lb.aggregate(lb.read_records(board, BOARD))
    rows = [i for i, a in enumerate(frame.attack) if attack in (None, a)]
    return regression.check_board(board, BOARD, lambda spec, out: run(spec, options), rows)


def failed(results: list[regression.RowCheck]) -> regression.RowCheck:
    bad = [r for r in results if not r.ok]
    assert bad and all(r.exact for r in results), [(r.label, r.reason) for r in results]
    return bad[0]


def halved(cls, method: str, field: str, monkeypatch) -> None:
    """``cls.method`` runs with its ``field`` parameter halved."""
    original = getattr(cls, method)

    def mutant(self, *args):
        value = getattr(self.params, field)
        self.params = dataclasses.replace(self.params, **{field: type(value)(value / 2)})
        return original(self, *args)

    monkeypatch.setattr(cls, method, mutant)


def test_the_unmutated_board_reproduces_exactly(board, tmp_path):
    results = check(board, tmp_path)
    assert len(results) == 2 and all(r.ok and r.exact for r in results)
    assert not lb.compare_csv(board, BOARD)
    stored = RunRecord.read(board / lb.read_records(board, BOARD)[0][0])
    assert list(stored.stage_sha256)[0] == "target" and list(stored.stage_sha256)[-2:] == ["judge", "metrics"]


def test_an_attack_with_half_its_inversion_steps_is_caught_at_its_reconstructions(board, tmp_path, monkeypatch):
    halved(ATTACKS.get("plg"), "invert", "inversion_steps", monkeypatch)
    bad = failed(check(board, tmp_path, "plg"))
    assert bad.stage.startswith("reconstructions") and bad.owner.startswith("attack plg version")


def test_a_gan_with_half_its_max_margin_weight_is_caught_at_the_attacks_artifact(board, tmp_path, monkeypatch):
    halved(ATTACKS.get("plg"), "train_gan", "alpha", monkeypatch)
    bad = failed(check(board, tmp_path, "plg"))
    assert bad.stage.startswith("artifact:plg-gan") and bad.owner.startswith("attack plg")


def test_a_skipped_defense_stage_is_caught_at_the_target(board, tmp_path, monkeypatch):
    calor = DEFENSES.get("calor")
    original = calor.train

    def without_ca(self, ctx):
        self.params = dataclasses.replace(self.params, ca=False)
        return original(self, ctx)

    monkeypatch.setattr(calor, "train", without_ca)
    bad = failed(check(board, tmp_path, "plg"))
    assert bad.stage.startswith("target") and bad.owner.startswith("defense calor version")


def test_a_weaker_prior_is_caught_at_the_prior(board, tmp_path, monkeypatch):
    halved(PRIORS.get("gmi-wgan"), "train", "n_critic", monkeypatch)
    bad = failed(check(board, tmp_path, "gmi"))
    assert bad.stage.startswith("prior:gmi-wgan") and bad.owner.startswith("prior gmi-wgan")


def test_knn_as_the_mean_l2_distance_is_caught_at_the_metrics(board, tmp_path, monkeypatch):
    from mibench.tensors import nearest_same_class

    knn = EVALUATORS.get("knn")

    def mean_l2(self, ctx):
        dist, _ = nearest_same_class(ctx.features, ctx.recon.labels, ctx.private_features, ctx.private_train.labels)
        return {"knn_dist": dist.sqrt().mean().item()}

    monkeypatch.setattr(knn, "evaluate", mean_l2)
    bad = failed(check(board, tmp_path, "gmi"))
    assert bad.stage.startswith("metrics") and bad.owner == "evaluator knn version 1 (knn_dist differ)"
    assert [c["metric"] for c in bad.comparisons if not c["ok"]] == ["knn_dist"]


def test_an_evaluators_k_changed_is_caught_at_the_metrics(board, tmp_path, monkeypatch):
    module = sys.modules[EVALUATORS.get("accuracy").__module__]
    original = module.topk_hits
    monkeypatch.setattr(module, "topk_hits", lambda logits, labels, k: original(logits, labels, 3 if k == 5 else k))
    bad = failed(check(board, tmp_path, "gmi"))
    assert bad.stage.startswith("metrics") and bad.owner.startswith("evaluator accuracy version 1 (attack_acc_top5")


def test_a_swapped_judge_is_caught_at_the_judge(board, tmp_path, monkeypatch):
    monkeypatch.setattr(TinySuite, "evaluator_recipe", dataclasses.replace(TinySuite.evaluator_recipe, lr=0.08))
    bad = failed(check(board, tmp_path, "gmi"))
    assert bad.stage.startswith("judge") and "judge" in bad.owner


def test_changed_private_data_is_caught_at_the_target(board, tmp_path, monkeypatch):
    from mibench.data import DataRoles
    from mibench.testing import synthetic_images

    def shifted(self, cache=None):  # TinySuite.load with another draw of private_train's noise
        return DataRoles(private_train=synthetic_images(24, range(4), seed=5),
                         private_test=synthetic_images(6, range(4), seed=1),
                         public=synthetic_images(12, range(4, 8), seed=2))

    monkeypatch.setattr(TinySuite, "load", shifted)
    assert failed(check(board, tmp_path, "gmi")).stage.startswith("target")


def test_a_hand_edited_record_is_caught_at_its_metrics_and_in_the_csv(board, tmp_path):
    path = board / lb.read_records(board, BOARD)[0][0]
    edited = json.loads(path.read_text())
    edited["metrics"]["attack_acc_top1"] = 0.9
    path.write_text(json.dumps(edited))
    assert any("attack_acc_top1" in line for line in lb.compare_csv(board, BOARD).lines())
    bad = failed(check(board, tmp_path, edited["spec"]["attack"]))
    assert bad.stage.startswith("metrics") and bad.owner.startswith("evaluator accuracy")


def test_a_hand_edited_csv_fails_the_check_naming_the_cell(board, tmp_path, capsys):
    csv = board / f"{BOARD}.csv"
    frame = lb.read_board(csv)
    frame.loc[0, "attack_acc_top1"] = 0.05
    frame["my_note"] = "mine"
    frame.to_csv(csv, index=False, float_format="%.6g")
    lines = lb.compare_csv(board, BOARD).lines()
    assert any(line.startswith(f"row {frame.config_hash[0]} column 'attack_acc_top1': committed '0.05'")
               for line in lines)
    assert "column 'my_note' (not built from the records)" in lines
    args = ["leaderboard", "check", "--suite", "tiny", "--profile", "quick", "--dir", str(board), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cold"), "--rows", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "differs from what its records build" in err and "my_note" in err and "0.05" in err


def test_a_record_without_stage_checksums_is_checked_statistically(board, tmp_path):
    for path, rec in lb.read_records(board, BOARD):
        (board / path).write_text(RunRecord.to_json(dataclasses.replace(rec, stage_sha256={})))
    results = check(board, tmp_path, "gmi")
    assert results[0].ok and not results[0].exact and "predate stage checksums" in results[0].reason
