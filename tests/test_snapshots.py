"""Every registered component keeps its contract and reproduces its recorded snapshot
(``tests/snapshots/tiny.json``, re-recorded with ``mibench snapshots record``); planted changes to a
component fail the check, naming the component and the output.

One cache serves the whole file (the undefended target and the judge are trained once); the
mutants that change code rather than parameters get a cache of their own, since cache keys follow
versions and parameters, not code.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from mibench.cli import main
from mibench.registries import DEFENSES
from mibench.testing import (SnapshotError, SnapshotFile, SnapshotMismatch, SnapshotSkipped, TinySuite, check,
                             components, verify)
from mibench.testing.checks import REGISTRIES

SNAPSHOTS = Path(__file__).parent / "snapshots" / "tiny.json"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("snapshot-cache")


@pytest.mark.parametrize("key", components())
def test_every_component_keeps_its_contract_and_reproduces_its_snapshot(key, shared_cache):
    snapshot = check(key, shared_cache)  # the contract holds for every installed component, a plugin's too
    kind, name = key.split("/")
    origin = REGISTRIES[kind].origin(name)["distribution"]
    if origin != "mibench" and key not in SnapshotFile.load(SNAPSHOTS).components:
        pytest.skip(f"{key} comes from {origin}: its snapshot belongs in that package's own file (docs/testing.md)")
    try:
        verify(snapshot, SNAPSHOTS)
    except SnapshotSkipped as skipped:  # reported at this line rather than inside pytest's unittest support
        pytest.skip(str(skipped))


def with_profile_components(monkeypatch, changes: dict[str, dict]) -> None:
    """The tiny suite's quick profile with ``changes`` merged into its per-component parameters."""
    quick = TinySuite.profiles["quick"]
    merged = {**quick.components, **{k: {**quick.components.get(k, {}), **v} for k, v in changes.items()}}
    monkeypatch.setattr(TinySuite, "profiles", {"quick": dataclasses.replace(quick, components=merged)})


def test_a_weaker_plg_attack_fails_its_snapshot_naming_it(monkeypatch, shared_cache):
    """PLG-MI's GAN with half its max-margin weight."""
    with_profile_components(monkeypatch, {"attacks.plg": {"alpha": 0.1}})
    with pytest.raises(SnapshotMismatch, match=r"^attacks/plg .*output reconstructions changed.*alpha 0\.2 -> 0\.1"):
        verify(check("attacks/plg", shared_cache), SNAPSHOTS)


def test_a_changed_defense_loss_fails_its_snapshot_naming_it(monkeypatch, tmp_path):
    """BiDO's loss at half its scale: code, not a parameter, so a fresh cache."""
    bido = DEFENSES.get("bido")
    loss = bido.loss
    monkeypatch.setattr(bido, "loss", lambda self, model, x, y: 0.5 * loss(self, model, x, y))
    with pytest.raises(SnapshotMismatch, match=r"^defenses/bido no longer reproduces .*target_weights changed"):
        verify(check("defenses/bido", tmp_path), SNAPSHOTS)


def knn_as_l2_distance(monkeypatch) -> None:
    """Plant a changed convention: KNN reported as the mean L2 distance instead of the mean squared one."""
    import mibench.evaluators.knn as knn

    squared = knn.nearest_same_class
    monkeypatch.setattr(knn, "nearest_same_class", lambda *a: (squared(*a)[0].sqrt(), squared(*a)[1]))


def test_a_changed_metric_convention_fails_the_evaluators_snapshot(monkeypatch, shared_cache):
    knn_as_l2_distance(monkeypatch)
    with pytest.raises(SnapshotMismatch, match=r"^evaluators/knn .*output knn_dist changed"):
        verify(check("evaluators/knn", shared_cache), SNAPSHOTS)


def test_a_changed_prior_fails_its_snapshot_naming_it(monkeypatch, shared_cache):
    """GMI's WGAN-GP with one critic step per generator step instead of two."""
    with_profile_components(monkeypatch, {"priors.gmi-wgan": {"n_critic": 1}})
    with pytest.raises(SnapshotMismatch,
                       match=r"^priors/gmi-wgan .*outputs critic, generator changed.*n_critic 2 -> 1"):
        verify(check("priors/gmi-wgan", shared_cache), SNAPSHOTS)


def test_a_snapshot_file_edited_by_hand_is_an_error_that_says_to_re_record(tmp_path, shared_cache):
    edited = tmp_path / "tiny.json"
    data = json.loads(SNAPSHOTS.read_text())
    outputs = data["components"]["evaluators/knn"]["sha256"]
    outputs["knn_dist"] = "0" * 64
    edited.write_text(json.dumps(data, indent=1))
    with pytest.raises(SnapshotError, match=rf"snapshot file {edited} was edited by hand .*re-record it with "
                                            rf"`mibench snapshots record --out {edited}`"):
        verify(check("evaluators/knn", shared_cache), edited)
    assert main(["snapshots", "check", "--out", str(edited), "--only", "evaluators/knn"]) == 2
    assert main(["snapshots", "record", "--out", str(edited), "--only", "evaluators/knn"]) == 2  # keeps no edit


def test_a_snapshot_of_another_float_environment_is_skipped_naming_the_difference(tmp_path, shared_cache):
    other = tmp_path / "tiny.json"
    stored = SnapshotFile.load(SNAPSHOTS)
    env = {**stored.float_env, "libraries": {**stored.float_env["libraries"], "torch": "0.0.1"}}
    SnapshotFile(other, env, stored.components).save()
    with pytest.raises(SnapshotSkipped, match=r"another float environment \(libraries .*'torch': '0\.0\.1'"):
        verify(check("evaluators/knn", shared_cache), other)


def test_record_prints_which_components_changed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "tiny.json"
    shutil.copy(SNAPSHOTS, out)
    assert main(["snapshots", "record", "--out", str(out), "--only", "evaluators/knn"]) == 0
    assert "no component's checksums changed" in capsys.readouterr().err
    assert SnapshotFile.load(out).components == SnapshotFile.load(SNAPSHOTS).components

    knn_as_l2_distance(monkeypatch)
    assert main(["snapshots", "record", "--out", str(out), "--only", "evaluators/knn"]) == 0
    err = capsys.readouterr().err
    assert "changed  evaluators/knn: output knn_dist changed" in err and "defenses/" not in err
    assert main(["snapshots", "check", "--out", str(out), "--only", "evaluators/knn"]) == 0
    assert main(["snapshots", "check", "--out", str(SNAPSHOTS), "--only", "evaluators/knn"]) == 1
    assert "evaluators/knn no longer reproduces its snapshot" in capsys.readouterr().err


def test_digests_cover_dtype_shape_and_every_bit():
    from mibench.testing.snapshot import digest

    x = torch.zeros(4)
    assert digest(x) == digest(torch.zeros(4)) != digest(torch.zeros(2, 2)) != digest(x.double())
    assert digest(0.1) != digest(math.nextafter(0.1, 1)) and digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
