"""Targets a suite ships as files (``mibench target export``, ``Suite.target_assets``).

A run whose target the suite ships loads the checked file instead of training, and its record equals
the trained run's (the same key, weights, natural accuracy and metrics); ``--retrain-targets`` trains
it from the recipe even where the cache holds the shipped copy; a tampered file is refused, naming
both checksums; the mnist manifest, when present, still names the keys today's code gives.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mibench.assets import PACKAGED, sha256_file, shipped_targets
from mibench.cli import main
from mibench.errors import AssetError
from mibench.export import export_targets, manifest_filename
from mibench.registries import DEFENSES, SUITES
from mibench.runner import RunOptions, run
from mibench.spec import resolve

SPEC = dict(suite="tiny", defense="none", attack="blank", profile="quick", control=True)


def _run(tmp_path: Path, name: str, **options):
    """A run of the blank control against the tiny suite's ``none``, the shipped files in ``tmp_path/weights``."""
    return run(resolve(SPEC["suite"], SPEC["defense"], SPEC["attack"], SPEC["profile"], control=True),
               RunOptions(device="cpu", out=tmp_path / name, write_leaderboard=False,
                          assets_dirs=(tmp_path / "weights",), **options))


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """The tiny suite's ``none`` target exported to a folder and declared shipped; its training forbidden after."""
    folder = tmp_path / "weights"
    manifest, entries = export_targets("tiny", ["none"], folder, profile="quick", device="cpu",
                                       cache_root=tmp_path / "export-cache")
    suite = SUITES.get("tiny")
    monkeypatch.setattr(suite, "target_assets", shipped_targets(manifest.name, "re-export it", folder))
    return folder, entries[0]


def _forbid_training(monkeypatch):
    def never(self, ctx):
        raise AssertionError("the shipped target was trained")

    monkeypatch.setattr(DEFENSES.get("none"), "train", never)


def test_export_writes_the_payload_and_a_manifest_keyed_by_the_target(shipped):
    folder, entry = shipped
    manifest = json.loads((folder / manifest_filename("tiny")).read_text())
    assert [e["defense"] for e in manifest["targets"]] == ["none"]
    assert entry["sha256"] == sha256_file(folder / entry["file"]) and entry["file"] == "tiny-target-none.pt"
    assert len(entry["key"]) == 64 and 0 <= entry["natural_acc"] <= 1


def test_a_shipped_target_is_loaded_not_trained_and_the_record_is_the_trained_ones(shipped, tmp_path, monkeypatch):
    trained = _run(tmp_path, "trained", cache_root=tmp_path / "c1", retrain_targets=True)  # from the recipe
    assert "shipped" not in trained.cache
    _forbid_training(monkeypatch)
    loaded = _run(tmp_path, "loaded", cache_root=tmp_path / "c2")
    assert loaded.cache["shipped"] == {"targets": "tiny-target-none.pt"}
    assert loaded.config_hash == trained.config_hash
    assert loaded.natural_acc == trained.natural_acc
    assert loaded.stage_sha256 == trained.stage_sha256  # the target's weights, reconstructions, judge, metrics
    assert loaded.metrics == trained.metrics


def test_retrain_targets_trains_even_where_the_cache_holds_the_shipped_copy(shipped, tmp_path, monkeypatch):
    cache = tmp_path / "c"
    first = _run(tmp_path, "a", cache_root=cache)
    assert first.cache["shipped"] == {"targets": "tiny-target-none.pt"}
    calls = []
    original = DEFENSES.get("none").train

    def counted(self, ctx):
        calls.append(1)
        return original(self, ctx)

    monkeypatch.setattr(DEFENSES.get("none"), "train", counted)
    again = _run(tmp_path, "b", cache_root=cache, retrain_targets=True)
    assert calls == [1] and "shipped" not in again.cache
    assert again.stage_sha256["target"] == first.stage_sha256["target"]  # the file is what the recipe trains
    _run(tmp_path, "c", cache_root=cache, retrain_targets=True)
    assert calls == [1]  # a trained copy in the cache serves later retrains


def test_a_tampered_shipped_file_is_refused_naming_both_checksums(shipped, tmp_path, monkeypatch):
    folder, entry = shipped
    path = folder / entry["file"]
    path.write_bytes(path.read_bytes() + b"x")
    _forbid_training(monkeypatch)
    with pytest.raises(AssetError, match=rf"does not have the expected SHA-256 {entry['sha256']}.*re-export it"):
        _run(tmp_path, "r", cache_root=tmp_path / "c")


def test_target_export_names_an_unknown_defense_before_training(tmp_path, capsys):
    assert main(["target", "export", "--suite", "tiny", "--profile", "quick", "--defenses", "nosuch",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "none" in err
    assert not any(tmp_path.iterdir())


def test_the_mnist_manifest_names_todays_default_targets():
    """A change to a recipe, a defense's version or parameters changes the target's key: the shipped
    file then no longer matches any run (it would train), so the manifest must be re-exported."""
    manifest = PACKAGED / "mnist-targets.json"
    if not manifest.is_file():
        pytest.skip("the mnist suite ships no targets")
    pytest.importorskip("mnist")
    from mibench.cache import Cache, content_key
    from mibench.components import resolve_params
    from mibench.stages import target_config

    suite = SUITES.get("mnist")()
    data = suite.load(Cache())
    stale = []
    for e in json.loads(manifest.read_text())["targets"]:
        cls = DEFENSES.get(e["defense"])
        params = dataclasses.asdict(resolve_params(cls.Params, suite.component_params("defenses", cls, e["profile"]),
                                                   owner=e["defense"]))
        key = content_key({**target_config(suite, suite.profile(e["profile"]), cls(params), data), "params": params})
        if key != e["key"] or sha256_file(PACKAGED / e["file"]) != e["sha256"]:
            stale.append(e["defense"])
    assert not stale, f"re-export with `mibench target export --suite mnist --defenses {','.join(stale)} --out mibench/weights`"
