"""Stored reconstructions and ``mibench leaderboard rejudge``: round trip, exact reproduction of a
run's metrics, clear errors on missing or corrupted files, nothing half written, one grid per
configuration."""

import shutil

import pytest
import torch

from mibench import reconstructions as stored
from mibench import rejudge
from mibench.attack import Reconstructions
from mibench.errors import LeaderboardError
from mibench.records import RunRecord, quantize
from mibench.registries import EVALUATORS
from mibench.runner import RunOptions, run
from mibench.spec import resolve

BOARD = "tiny-quick"


def test_stored_reconstructions_round_trip_as_the_images_evaluators_score():
    images = torch.rand(6, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    images[0, 0, 0, 0], images[0, 0, 0, 1] = 0.5 / 255, 254.5 / 255  # rounding ties
    recon = Reconstructions(images, torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 0, 1, 0, 1]))
    data = stored.encode(recon)
    back = stored.decode(data)
    assert torch.equal(back.images, quantize(images))  # bit for bit
    assert torch.equal(back.labels, recon.labels) and torch.equal(back.seed_index, recon.seed_index)
    assert stored.encode(back) == data  # same images, same bytes, same checksum
    import io

    import numpy as np

    with np.load(io.BytesIO(data)) as arrays:
        assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (6, 1, 5, 5)


@pytest.fixture(scope="module")
def board(tmp_path_factory, tiny_suite):
    """A tiny board with two seeds of none x plg and their shared cache (built once)."""
    root = tmp_path_factory.mktemp("board")
    opts = RunOptions(device="cpu", out=root / "runs", leaderboard_dir=root / "boards", cache_root=root / "cache")
    records = [run(resolve("tiny", "none", "plg", "quick", seed=s), opts) for s in (1, 0)]
    return root, records


@pytest.fixture
def boards(board, tmp_path):
    """A private copy of the board folder, and run options that reuse the board's cache."""
    root, _ = board
    shutil.copytree(root / "boards", tmp_path / "boards")
    return tmp_path / "boards", RunOptions(device="cpu", out=tmp_path / "runs", cache_root=root / "cache")


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and
            not p.name.endswith(".lock")}


def test_a_run_stores_its_reconstructions_with_their_checksum(board):
    root, records = board
    for rec in records:
        name = f"{rec.config_hash}-s{rec.spec['seed']}"
        data = stored.board_path(root / "boards", BOARD, name).read_bytes()
        assert stored.sha256(data) == rec.reconstructions_sha256
        assert (root / "runs" / BOARD / "none__plg" / name / stored.FILE_NAME).read_bytes() == data
        assert len(stored.decode(data).images) == 12  # 3 classes x 2 images x 2 budget seeds


def test_one_grid_per_configuration_the_lowest_seeds(board, tmp_path):
    root, records = board
    assert [p.name for p in (root / "boards" / "grids" / BOARD).iterdir()] == [f"{records[0].config_hash}-s0.png"]
    opts = RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=root / "boards", cache_root=root / "cache")
    shutil.copytree(root / "boards", tmp_path / "saved")
    try:
        run(resolve("tiny", "none", "plg", "quick", seed=2), opts)
        assert [p.name for p in (root / "boards" / "grids" / BOARD).iterdir()] == [f"{records[0].config_hash}-s0.png"]
    finally:
        shutil.rmtree(root / "boards")
        shutil.copytree(tmp_path / "saved", root / "boards")


def test_rejudge_reproduces_the_runs_metrics_exactly(boards, board):
    folder, opts = boards
    csv_before = (folder / f"{BOARD}.csv").read_text()
    dry = rejudge.rejudge_board(folder, BOARD, opts, dry_run=True)
    assert len(dry) == 2 and all(r.changes() == [] for r in dry)
    results = rejudge.rejudge_board(folder, BOARD, opts)
    by_seed = sorted(board[1], key=lambda r: r.spec["seed"])
    for result, original in zip(sorted(results, key=lambda r: r.after.spec["seed"]), by_seed):
        after = RunRecord.read(folder / result.path)
        assert after.metrics == original.metrics and after.per_class == original.per_class
        assert after.per_class["attack_acc_top1"]
        assert after.rejudged["evaluators"] == {e["name"]: e["version"] for e in original.components["evaluators"]}
        assert after.spec == original.spec and after.attack_notes == original.attack_notes
    assert (folder / f"{BOARD}.csv").read_text() == csv_before
    assert [p.name for p in (folder / "grids" / BOARD).iterdir()] == [f"{by_seed[0].config_hash}-s0.png"]


def test_a_record_rewritten_during_the_rejudge_stops_it_before_any_write(boards):
    folder, opts = boards

    def a_run_adds_the_row_again(result):
        path = folder / result.path
        path.write_text(path.read_text().replace('"attack_queries"', '"attack_queries" ', 1))

    with pytest.raises(LeaderboardError, match="changed while rejudging.*nothing was written"):
        rejudge.rejudge_board(folder, BOARD, opts, on_record=a_run_adds_the_row_again)
    assert not list((folder / "records" / BOARD).glob("*.tmp"))
    assert all('"rejudged": {}' in p.read_text() for p in (folder / "records" / BOARD).glob("*.json"))


def test_rejudge_reports_a_changed_evaluator_and_dry_run_writes_nothing(boards, monkeypatch):
    folder, opts = boards
    knn = EVALUATORS.get("knn")
    original = knn.evaluate
    monkeypatch.setattr(knn, "evaluate", lambda self, ctx: {k: v * 2 for k, v in original(self, ctx).items()})
    before = snapshot(folder)
    results = rejudge.rejudge_board(folder, BOARD, opts, evaluators=["knn"], dry_run=True)
    assert [[m for m, _, _ in r.changes()] for r in results] == [["knn_dist"], ["knn_dist"]]
    assert snapshot(folder) == before
    rejudge.rejudge_board(folder, BOARD, opts, evaluators=["knn"])
    after = RunRecord.read(folder / results[0].path)
    assert after.metrics["knn_dist"] == pytest.approx(2 * results[0].before.metrics["knn_dist"])
    assert after.metrics["attack_acc_top1"] == results[0].before.metrics["attack_acc_top1"]  # not rejudged, kept
    assert after.rejudged["evaluators"] == {"knn": knn.version}


def test_missing_or_corrupted_reconstructions_are_named_and_nothing_is_written(boards):
    folder, opts = boards
    files = sorted((folder / "reconstructions" / BOARD).glob("*.npz"))
    files[0].unlink()
    data = bytearray(files[1].read_bytes())
    data[-30] ^= 0xFF
    files[1].write_bytes(bytes(data))
    before = snapshot(folder)
    with pytest.raises(LeaderboardError) as err:
        rejudge.rejudge_board(folder, BOARD, opts)
    text = str(err.value)
    assert f"{files[0]} are missing" in text and f"{files[1]} fail their checksum" in text
    assert "mibench run --suite tiny --profile quick --defense none --attack plg --seed" in text
    assert snapshot(folder) == before


def test_an_old_record_without_stored_reconstructions_must_be_rerun(boards):
    folder, opts = boards
    path = sorted((folder / "records" / BOARD).glob("*.json"))[0]
    rec = RunRecord.read(path)
    old = rec.to_json().replace(f'"reconstructions_sha256": "{rec.reconstructions_sha256}"', '"run_folder": ""')
    path.write_text(old)
    assert RunRecord.read(path).reconstructions_sha256 == ""  # old records stay readable
    with pytest.raises(LeaderboardError, match="has no checksum of its reconstructions.*rerun the row with `mibench run"):
        rejudge.rejudge_board(folder, BOARD, opts)


def test_a_failure_mid_rejudge_leaves_every_record_unchanged(boards, monkeypatch):
    folder, opts = boards
    before = snapshot(folder)
    knn, calls = EVALUATORS.get("knn"), []
    original = knn.evaluate

    def fails_on_the_second(self, ctx):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("judge crashed")
        return {k: v + 1 for k, v in original(self, ctx).items()}

    monkeypatch.setattr(knn, "evaluate", fails_on_the_second)
    with pytest.raises(RuntimeError, match="judge crashed"):
        rejudge.rejudge_board(folder, BOARD, opts)
    assert snapshot(folder) == before
    monkeypatch.setattr(knn, "evaluate", lambda self, ctx: {k: v + 1 for k, v in original(self, ctx).items()})
    staged = []
    real_stage = rejudge.staged_file

    def disk_full_on_the_second(path, data):
        if staged:
            raise OSError("no space left on device")
        staged.append(real_stage(path, data))
        return staged[-1]

    monkeypatch.setattr(rejudge, "staged_file", disk_full_on_the_second)
    with pytest.raises(OSError, match="no space"):
        rejudge.rejudge_board(folder, BOARD, opts)
    assert snapshot(folder) == before and not staged[0].exists()


def test_cli_rejudge_dry_run_and_rows(boards, capsys):
    from mibench.cli import main

    folder, opts = boards
    args = ["leaderboard", "rejudge", "--suite", "tiny", "--profile", "quick", "--dir", str(folder), "--device", "cpu",
            "--cache-dir", str(opts.cache_root)]
    assert main([*args, "--dry-run", "--rows", "0"]) == 0
    out = capsys.readouterr()
    assert "identical" in out.out and "2 identical" in out.err
    assert main([*args, "--rows", "5"]) == 2
    assert "board tiny-quick has rows 0 to 0" in capsys.readouterr().err
    assert main([*args, "--evaluators", "knn,nope"]) == 2
    assert "--evaluators nope" in capsys.readouterr().err


def test_the_committed_quick_board_keeps_its_reconstructions_and_a_copy_without_them_says_what_to_rerun(tmp_path):
    from pathlib import Path

    from mibench.leaderboard import read_records

    committed = Path(__file__).resolve().parents[1] / "leaderboards"
    records = read_records(committed, "mnist-quick")
    for path, rec in records:
        data = stored.board_path(committed, "mnist-quick", Path(path).stem).read_bytes()
        assert stored.sha256(data) == rec.reconstructions_sha256 and len(stored.decode(data).images) == 40
    shutil.copytree(committed / "records" / "mnist-quick", tmp_path / "records" / "mnist-quick")
    shutil.copy(committed / "mnist-quick.csv", tmp_path)
    with pytest.raises(LeaderboardError) as err:
        rejudge.rejudge_board(tmp_path, "mnist-quick", RunOptions(device="cpu"))
    assert str(err.value).startswith(f"cannot rejudge {len(records)} of the {len(records)} record(s) of mnist-quick; "
                                     "nothing was written")
    assert str(err.value).count("are missing") == len(records) == 12
    assert "mibench run --suite mnist --profile quick --defense none --attack plg --seed 0" in str(err.value)


def test_a_new_judge_rescores_every_row(boards, monkeypatch, tiny_suite):
    import dataclasses

    folder, opts = boards
    monkeypatch.setattr(tiny_suite, "evaluator_recipe", dataclasses.replace(tiny_suite.evaluator_recipe, epochs=2))
    results = rejudge.rejudge_board(folder, BOARD, opts, dry_run=True)
    for result in results:
        changed = {m for m, _, _ in result.changes()}
        assert "knn_dist" in changed  # measured in the new judge's features (its accuracy may saturate)


def test_rejudge_refuses_to_rebuild_a_hand_edited_csv_unless_told(boards):
    folder, opts = boards
    csv = folder / f"{BOARD}.csv"
    csv.write_text(csv.read_text().replace("\n", ",kept\n").replace("records,kept\n", "records,my_note\n", 1))
    before = snapshot(folder)
    with pytest.raises(LeaderboardError, match="my_note"):
        rejudge.rejudge_board(folder, BOARD, opts)
    assert snapshot(folder) == before
    rejudge.rejudge_board(folder, BOARD, RunOptions(**{**opts.__dict__, "overwrite_edited_board": True}))
    assert "my_note" not in csv.read_text()


def test_a_commit_that_would_leave_two_judges_on_the_board_writes_nothing(boards, monkeypatch, tiny_suite):
    import dataclasses

    folder, opts = boards
    monkeypatch.setattr(tiny_suite, "evaluator_recipe", dataclasses.replace(tiny_suite.evaluator_recipe, epochs=2))
    rescored = rejudge.rejudge_board(folder, BOARD, opts, dry_run=True)  # both seeds, by a retrained judge
    before = snapshot(folder)
    with pytest.raises(LeaderboardError, match="different judges"):
        rejudge.commit(folder, BOARD, rescored[:1])  # one seed only: the other keeps the old judge
    assert snapshot(folder) == before
