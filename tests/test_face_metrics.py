"""The face metrics (FaceNet distance, LPIPS) against values computed by hand, their weights as
assets (built here from randomly initialised networks: nothing is downloaded), NaN with a note
when a weights file is absent, and an error when it is the wrong file."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from facenet_pytorch import InceptionResnetV1

from mibench.assets import sha256_file
from mibench.attack import Reconstructions
from mibench.data import ImageSet
from mibench.errors import AssetError, MissingAssetError
from mibench.evaluator import EvalContext
from mibench.evaluators import facenet_dist, lpips_dist
from mibench.evaluators.facenet_dist import FaceNetDistance
from mibench.evaluators.lpips_dist import LPIPSDistance

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def no_weights_anywhere(tmp_path, monkeypatch):
    """Only the folders a test names are searched: no $MIBENCH_ASSETS, an empty torch home."""
    monkeypatch.delenv("MIBENCH_ASSETS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch" / "hub"))


def context(recon, labels, private, private_labels, assets_dirs=()):
    """An EvalContext with what the face metrics read, and an in-memory ``artifact`` that counts builds."""
    store, builds = {}, []

    def artifact(name, config, build):
        key = json.dumps([name, config], sort_keys=True)
        if key not in store:
            builds.append((name, config))
            store[key] = build()
        return store[key]

    labels = torch.tensor(labels)
    ctx = EvalContext(evaluator=None, private_train=ImageSet(private, torch.tensor(private_labels)),
                      private_features=torch.zeros(len(private), 1),
                      recon=Reconstructions(recon, labels, torch.zeros_like(labels)), device=CPU,
                      artifact=artifact, assets_dirs=tuple(assets_dirs))
    return ctx, builds


def pinned(monkeypatch, module, path):
    """Pin ``module.ASSET`` to the file at ``path`` (a real file's checksum cannot match a random network)."""
    path.rename(path.parent / module.ASSET.filename)
    path = path.parent / module.ASSET.filename
    monkeypatch.setattr(module, "ASSET", dataclasses.replace(module.ASSET, sha256=sha256_file(path)))
    return path


# --- FaceNet distance ---------------------------------------------------------------------------

def points(*xy):
    """1 x 1 x 2 images whose two pixels are the given coordinates / 10 (Reconstructions clamp to [0, 1])."""
    return torch.tensor(xy, dtype=torch.float32).view(-1, 1, 1, 2) / 10


def test_facenet_distance_is_the_mean_squared_distance_to_the_nearest_same_class_image(tmp_path, monkeypatch):
    (tmp_path / "w.pt").write_bytes(b"stand-in weights")
    weights = pinned(monkeypatch, facenet_dist, tmp_path / "w.pt")
    embedded = []

    def embedder(path, device):
        assert path == weights

        def embed(x):  # a fixed linear map: the two pixels, times 10 (back to whole coordinates)
            embedded.append(len(x))
            return x.flatten(1) @ torch.tensor([[10.0, 0.0], [0.0, 10.0]])

        return embed

    private = points((0, 0), (3, 4), (1, 1), (0, 1))
    ctx, builds = context(points((3, 3), (0, 0), (0, 1)), [0, 1, 0], private, [0, 0, 1, 2], [tmp_path])
    ev = FaceNetDistance()
    monkeypatch.setattr(ev, "embedder", embedder)
    out = ev.evaluate(ctx)
    # (3,3) of class 0: to (0,0) 18, to (3,4) 1 -> 1; (0,0) of class 1: to (1,1) -> 2 (the class-0 (0,0)
    # at distance 0 is another class); (0,1) of class 0: to (0,0) 1, to (3,4) 18 -> 1 (the class-2 (0,1) is
    # not attacked). Squared Euclidean distances, as PPA's: mean (1 + 2 + 1) / 3.
    assert out == {"facenet_dist": pytest.approx(4 / 3)}
    assert embedded == [3, 3]  # the private images of the attacked classes 0 and 1 only, then the reconstructions
    assert ctx.notes == {} and ctx.weights == {weights.name: sha256_file(weights)}  # for the record
    assert [name for name, _ in builds] == ["facenet-embeddings"]
    assert builds[0][1]["weights"] == sha256_file(weights) and builds[0][1]["classes"] == [0, 1]
    assert ev.evaluate(ctx) == out and len(builds) == 1 and embedded == [3, 3, 3]  # private embeddings cached


def test_facenet_loads_the_vggface2_file_layout_and_embeds_any_image(tmp_path, monkeypatch):
    torch.manual_seed(0)
    full = InceptionResnetV1(classify=True, num_classes=8631)  # the file's layout: the net and VGGFace2's head
    torch.save(full.state_dict(), tmp_path / "w.pt")
    weights = pinned(monkeypatch, facenet_dist, tmp_path / "w.pt")
    embed = facenet_dist.facenet(weights, CPU)
    images = torch.rand(2, 1, 12, 12)
    x = facenet_dist.standardize(images)
    assert x.shape == (2, 3, 160, 160)
    assert facenet_dist.standardize(torch.zeros(1, 3, 160, 160)).unique().item() == pytest.approx(-127.5 / 128)
    assert facenet_dist.standardize(torch.ones(1, 3, 160, 160)).unique().item() == pytest.approx(127.5 / 128)
    reference = InceptionResnetV1().eval()
    reference.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("logits.")})
    with torch.no_grad():
        expected = reference(x)
    got = embed(images)
    assert got.shape == (2, 512) and torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got.norm(dim=1), torch.ones(2), atol=1e-5)  # unit embeddings: distances in [0, 4]


def test_facenet_without_its_weights_is_nan_with_a_note_naming_the_file(tmp_path):
    ctx, builds = context(points((3, 3)), [0], points((0, 0)), [0], [tmp_path / "assets"])
    out = FaceNetDistance().evaluate(ctx)
    assert math.isnan(out["facenet_dist"]) and not builds and ctx.weights == {}
    note = ctx.notes["facenet_dist"]
    assert "not found: put 20180402-114759-vggface2.pt in one of" in note
    assert str(tmp_path / "assets") in note and str(tmp_path / "torch" / "checkpoints") in note  # facenet-pytorch's
    assert "timesler/facenet-pytorch/releases" in note


def test_facenet_with_a_wrong_weights_file_is_an_error_not_a_skip(tmp_path):
    (tmp_path / facenet_dist.ASSET.filename).write_bytes(b"not the VGGFace2 weights")
    ctx, _ = context(points((3, 3)), [0], points((0, 0)), [0], [tmp_path])
    with pytest.raises(AssetError, match="does not have the expected SHA-256 281cebca") as err:
        FaceNetDistance().evaluate(ctx)
    assert not isinstance(err.value, MissingAssetError)
    assert str(tmp_path / facenet_dist.ASSET.filename) in str(err.value)
    assert ctx.notes == {}


# --- LPIPS --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alexnet_state():
    torch.manual_seed(0)
    return torchvision.models.alexnet().state_dict()


@pytest.fixture
def lpips_weights(alexnet_state, tmp_path, monkeypatch):
    """A randomly initialised torchvision AlexNet saved under the asset's name, and pinned."""
    torch.save(alexnet_state, tmp_path / "w.pth")
    return pinned(monkeypatch, lpips_dist, tmp_path / "w.pth")


def reference_lpips(model, x, y):
    """``lpips.LPIPS.forward`` on one pair of [0, 1] 1-channel images, upsampled to 32 x 32 as the metric does."""
    def prep(img):
        img = F.interpolate(img[None].repeat(1, 3, 1, 1), size=(32, 32), mode="bilinear", antialias=True)
        return img * 2 - 1

    with torch.no_grad():
        return model(prep(x), prep(y)).item()


def test_lpips_trunk_is_torchvisions_alexnet_and_pairs_match_lpips_forward(lpips_weights, alexnet_state):
    model = lpips_dist.lpips_alex(lpips_weights, CPU)
    for slice_, index in ((model.net.slice1, "0"), (model.net.slice2, "3"), (model.net.slice3, "6"),
                          (model.net.slice4, "8"), (model.net.slice5, "10")):
        assert torch.equal(getattr(slice_, index).weight, alexnet_state[f"features.{index}.weight"])
    assert model.lin0.model[1].weight.abs().sum() > 0  # the packaged linear layers are loaded (pretrained=True)
    x, y = torch.rand(3, 3, 32, 32), torch.rand(4, 3, 32, 32)
    a = lpips_dist.activations(model, lpips_dist.prepare(x, (32, 32)))
    b = lpips_dist.activations(model, lpips_dist.prepare(y, (32, 32)))
    pairs = lpips_dist.pairwise(model, a, b)
    with torch.no_grad():
        expected = torch.tensor([[model(x[i:i + 1] * 2 - 1, y[j:j + 1] * 2 - 1).item() for j in range(4)]
                                 for i in range(3)])
    assert torch.allclose(pairs, expected, atol=1e-6)
    assert torch.equal(lpips_dist.pairwise(model, a, b, chunk=1), pairs)  # one row at a time: the same numbers
    assert torch.equal(lpips_dist.pairwise(model, a, a).diagonal(), torch.zeros(3))  # LPIPS(x, x) = 0


def test_lpips_is_the_mean_of_the_minimum_over_same_class_private_images(lpips_weights, tmp_path):
    g = torch.Generator().manual_seed(1)
    private = (torch.rand(5, 1, 16, 16, generator=g) * 255).round().to(torch.uint8)  # as large suites keep them
    private_labels = [0, 0, 1, 1, 2]
    as_float = private.float() / 255
    other = torch.rand(1, 1, 16, 16, generator=g)
    # a copy of a class-0 image (distance 0), a new image of class 1, and a copy of the class-2 image
    # attacking class 0 (its own copy is not of class 0, so it is not at distance 0)
    recon = torch.cat([as_float[1:2], other, as_float[4:5]])
    ctx, _ = context(recon, [0, 1, 0], private, private_labels, [tmp_path])
    out = LPIPSDistance().evaluate(ctx)
    model = lpips_dist.lpips_alex(lpips_weights, CPU)
    by_hand = [0.0,
               min(reference_lpips(model, other[0], as_float[i]) for i in (2, 3)),
               min(reference_lpips(model, as_float[4], as_float[i]) for i in (0, 1))]
    assert by_hand[1] > 0 and by_hand[2] > 0
    assert out["lpips"] == pytest.approx(sum(by_hand) / 3, abs=1e-6)
    assert ctx.notes == {}


def test_lpips_without_the_alexnet_weights_is_nan_with_a_note_naming_the_file(tmp_path):
    ctx, _ = context(torch.rand(1, 1, 8, 8), [0], torch.rand(1, 1, 8, 8), [0], [tmp_path / "assets"])
    out = LPIPSDistance().evaluate(ctx)
    assert math.isnan(out["lpips"])
    note = ctx.notes["lpips"]
    assert "not found: put alexnet-owt-7be5be79.pth in one of" in note and str(tmp_path / "assets") in note
    assert "download.pytorch.org/models/alexnet-owt-7be5be79.pth" in note


def test_lpips_with_a_wrong_weights_file_is_an_error_not_a_skip(tmp_path):
    (tmp_path / lpips_dist.ASSET.filename).write_bytes(b"not AlexNet")
    ctx, _ = context(torch.rand(1, 1, 8, 8), [0], torch.rand(1, 1, 8, 8), [0], [tmp_path])
    with pytest.raises(AssetError, match="does not have the expected SHA-256 7be5be79") as err:
        LPIPSDistance().evaluate(ctx)
    assert not isinstance(err.value, MissingAssetError) and ctx.notes == {}


# --- in a run -----------------------------------------------------------------------------------

def test_a_run_reports_a_missing_weights_file_in_its_record_and_finds_the_others_in_assets_dir(lpips_weights,
                                                                                                 tmp_path):
    """The run's --assets-dir reaches the evaluators; an absent file gives NaN on the board (never 0)
    and a note in the record's ``evaluator_notes``; the run does not fail."""
    import pandas as pd

    from mibench.records import RunRecord
    from mibench.runner import Pipeline, RunOptions
    from mibench.spec import resolve

    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"),
                    RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards",
                               assets_dirs=(lpips_weights.parent,)))
    pipe.evaluators = [FaceNetDistance(), LPIPSDistance()]  # as a suite that lists them would have them
    record = pipe.run()
    assert math.isnan(record.metrics["facenet_dist"]) and 0 < record.metrics["lpips"] < math.inf
    assert list(record.evaluator_notes) == ["facenet_dist"]
    assert "20180402-114759-vggface2.pt" in record.evaluator_notes["facenet_dist"]
    stored = RunRecord.read(pipe.run_folder() / "record.json")
    assert stored.evaluator_notes == record.evaluator_notes
    # the weights file a metric used is recorded beside the judge's, by its SHA-256; the absent one is not
    assert stored.evaluator_weights[lpips_weights.name] == sha256_file(lpips_weights)
    assert "20180402-114759-vggface2.pt" not in stored.evaluator_weights
    row = pd.read_csv(tmp_path / "boards" / "tiny-quick.csv").iloc[0]
    assert math.isnan(row.facenet_dist) and row.lpips == pytest.approx(record.metrics["lpips"], rel=1e-4)
