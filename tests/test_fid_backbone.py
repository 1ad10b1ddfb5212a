"""FID's backbone choice: InceptionV3 pool3 when the standard weights file is found locally,
the evaluation model's features otherwise, and the row says which. The file is an asset: found
through the asset folders, checked against its pin, a wrong file is an error, not a fallback."""

import dataclasses

import pytest
import torch
import torchvision
from pytorch_fid import inception as fid_inception

from mibench.assets import sha256_file
from mibench.errors import AssetError, DataSourceError
from mibench.evaluators import inception
from mibench.evaluators.fid import FID


@pytest.fixture
def fake_weights(tmp_path, monkeypatch):
    """A randomly initialised FID Inception saved under the standard file name (no download)."""
    with monkeypatch.context() as patch:
        patch.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(torchvision.models.inception.Inception3, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        state = fid_inception.fid_inception_v3().state_dict()
    path = tmp_path / inception.WEIGHTS_NAME
    torch.save(state, path)
    return path


def pin(monkeypatch, path):
    """Pin the asset to ``path`` (the real file's SHA-256 cannot match a randomly initialised one)."""
    monkeypatch.setattr(inception, "ASSET", dataclasses.replace(inception.ASSET, sha256=sha256_file(path)))


def test_inception_is_used_when_the_weights_file_is_given(fake_weights, monkeypatch):
    monkeypatch.setenv("MIBENCH_FID_WEIGHTS", str(fake_weights))
    pin(monkeypatch, fake_weights)
    assert inception.find_weights() == (fake_weights, sha256_file(fake_weights))
    features = inception.inception_pool3(fake_weights, torch.device("cpu"))
    assert features(torch.rand(2, 1, 32, 32)).shape == (2, 2048)


def test_inception_is_found_in_the_torch_hub_cache(fake_weights, monkeypatch, tmp_path):
    monkeypatch.delenv("MIBENCH_FID_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)
    assert inception.find_weights() is None
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / inception.WEIGHTS_NAME).symlink_to(fake_weights)
    with pytest.raises(AssetError, match="does not have the expected SHA-256"):  # not the pinned file
        inception.find_weights()
    pin(monkeypatch, fake_weights)
    assert inception.find_weights() is not None


def test_a_wrong_weights_path_is_an_error_not_a_silent_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("MIBENCH_FID_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(DataSourceError, match="is not a file"):
        inception.find_weights()


def test_fallback_names_the_evaluator_backbone(monkeypatch, tmp_path):
    monkeypatch.delenv("MIBENCH_FID_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)

    class Ctx:
        evaluator_name = "resnet_small"
        evaluator = torch.nn.Module()
        evaluator.features = staticmethod(lambda x: x.flatten(1))
        assets_dirs = (tmp_path / "assets",)

    name, _, is_evaluator, weights = FID().extractor(Ctx())
    assert name == "resnet_small-penultimate" and is_evaluator and weights == ""


def test_inception_is_found_in_the_assets_dirs_and_a_wrong_file_is_an_error(fake_weights, monkeypatch, tmp_path):
    monkeypatch.delenv("MIBENCH_FID_WEIGHTS", raising=False)
    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    class Ctx:
        device = torch.device("cpu")
        assets_dirs = (fake_weights.parent,)
        weights: dict = {}

    with pytest.raises(AssetError, match=rf"{inception.WEIGHTS_NAME} .*does not have the expected SHA-256"):
        FID().extractor(Ctx())  # never a silent fallback to the judge's features
    monkeypatch.setenv("MIBENCH_FID_WEIGHTS", str(fake_weights))
    with pytest.raises(AssetError, match="Replace it with the right file"):
        inception.find_weights()
    monkeypatch.delenv("MIBENCH_FID_WEIGHTS")
    pin(monkeypatch, fake_weights)
    name, _, is_evaluator, weights = FID().extractor(Ctx())
    assert name == inception.BACKBONE and not is_evaluator and weights == sha256_file(fake_weights)
    assert Ctx.weights == {fake_weights.name: weights}  # recorded beside the judge's file
