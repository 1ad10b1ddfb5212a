"""The celeba64 suite on a synthetic CelebA-layout folder: data checks, preprocessing, the uint8
cache, and the whole pipeline on the CPU (tiny profile) with an imported judge."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from mibench.cache import Cache
from mibench.cli import main
from mibench.data import UNLABELLED
from mibench.errors import DataSourceError
from mibench.leaderboard import read_board
from mibench.models import Classifier
from mibench.registries import MODELS, SUITES
from mibench.suites import celeba64
from mibench.suites.celeba64 import CELEBA_CROP

INSIDE, OUTSIDE = (200, 40, 90), (10, 220, 30)


def face(seed: int, size=(178, 218)) -> Image.Image:
    """A 178 x 218 image: colour INSIDE the field's centre crop, OUTSIDE elsewhere, plus a per-image
    pattern inside the crop so that identities differ."""
    rng = np.random.default_rng(seed)
    img = np.empty((size[1], size[0], 3), dtype=np.uint8)
    img[:] = OUTSIDE
    left, top, right, bottom = CELEBA_CROP
    img[top:bottom, left:right] = INSIDE
    img[top + 30:top + 60, left + 30:left + 60] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(img)


def write_split(folder, roles: dict[str, list[tuple[str, int]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sums = []
    for role, rows in roles.items():
        data = "".join(f"{name} {label}\n" for name, label in rows).encode()
        (folder / f"{role}.txt").write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {role}.txt")
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")


@pytest.fixture
def celeba(tmp_path):
    """DIR/img_align_celeba/ with 2 private identities (4 train + 1 test images each) and 6 public
    images, and a split folder in the shipped format."""
    images = tmp_path / "data" / "img_align_celeba"
    images.mkdir(parents=True)
    roles, n = {"private_train": [], "private_test": [], "public": []}, 0
    for role, per_id, ids in (("private_train", 4, (0, 1)), ("private_test", 1, (0, 1)), ("public", 3, (0, 1))):
        for label in ids:
            for _ in range(per_id):
                n += 1
                name = f"{n:06d}.jpg"
                face(n + 100 * label).save(images / name, quality=100, subsampling=0)  # no chroma blur
                roles[role].append((name, label))
    write_split(tmp_path / "split", roles)
    return tmp_path / "data", tmp_path / "split"


def suite(root, split, **params):
    return SUITES.get("celeba64")(root, {"split": str(split), **params})


def test_the_shipped_split_files_match_their_checksums_and_the_protocol():
    sizes = {role: len(celeba64.read_split(role)) for role in celeba64.ROLES}
    assert sizes == {"private_train": 27018, "private_test": 3009, "public": 30000}
    labels = {label for _, label in celeba64.read_split("private_train")}
    assert labels == set(range(1000))


def test_roles_are_uint8_center_crops_resized_to_64(celeba):
    data = suite(*celeba).load()
    train = data.private_train
    assert train.images.dtype == torch.uint8 and train.images.shape == (8, 3, 64, 64)
    assert train.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert len(data.private_test) == 2 and len(data.public) == 6
    inside = torch.tensor(INSIDE)[None, :, None]
    for edge in (train.images[:, :, 0], train.images[:, :, -1], train.images[:, :, :, 0], train.images[:, :, :, -1]):
        assert (edge.int() - inside).abs().max() <= 3  # the crop's edges hold INSIDE (a 1-px shift would show OUTSIDE)


def test_the_decoded_images_are_cached_and_memory_mapped(celeba, monkeypatch):
    first = suite(*celeba).load().private_train.images
    monkeypatch.setattr(celeba64, "decode_all", lambda *a, **k: pytest.fail("decoded twice"))
    assert torch.equal(suite(*celeba).load().private_train.images, first)


def test_the_decoded_images_go_to_the_runs_cache_only(celeba, tmp_path, monkeypatch):
    """``--cache-dir`` holds for the decoded images: they land in the run's cache, not the default one."""
    default, explicit = tmp_path / "default-cache", tmp_path / "explicit-cache"
    monkeypatch.setenv("MIBENCH_CACHE", str(default))
    assert len(suite(*celeba).load(Cache(explicit)).private_train) == 8
    assert [p.name.split("-")[0] for p in (explicit / "data").iterdir()] == ["celeba64"]  # no temporary file left
    assert not default.exists()


def test_missing_root_layout_and_files_say_what_to_put_where(celeba, tmp_path):
    root, split = celeba
    with pytest.raises(DataSourceError, match="celeba64 needs the CelebA images: pass --data-root DIR"):
        SUITES.get("celeba64")(None, {"split": str(split)}).load()
    with pytest.raises(DataSourceError, match="does not exist: create it and unzip img_align_celeba.zip"):
        suite(tmp_path / "nowhere", split).load()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSourceError, match=r"holds no CelebA aligned images .*Unzip img_align_celeba.zip"):
        suite(empty, split).load()
    (root / "img_align_celeba" / "000003.jpg").unlink()
    (root / "img_align_celeba" / "000007.jpg").unlink()
    with pytest.raises(DataSourceError, match=r"2 of the 16 images the split needs are missing from .* "
                                              r"\(e.g. 000003.jpg, 000007.jpg\)"):
        suite(root, split).load()


def test_images_of_the_wrong_size_are_named(celeba):
    root, split = celeba
    face(1, size=(64, 64)).save(root / "img_align_celeba" / "000002.jpg")
    with pytest.raises(DataSourceError, match=r"1 of the 16 CelebA images cannot be used \(000002.jpg is 64 x 64\)"):
        suite(root, split).load()


def test_a_split_file_that_fails_its_checksum_is_refused(celeba):
    root, split = celeba
    with open(split / "public.txt", "a") as f:
        f.write("999999.jpg 3\n")
    with pytest.raises(DataSourceError, match=r"public.txt does not match its SHA-256"):
        suite(root, split).load()


def test_ffhq_as_the_public_role(celeba):
    root, split = celeba
    with pytest.raises(DataSourceError, match=r"suite.public=ffhq: no images found; put .*thumbnails128x128"):
        suite(root, split, public="ffhq").load()
    (root / "thumbnails128x128" / "00000").mkdir(parents=True)
    for i in range(3):
        face(i, size=(128, 128)).save(root / "thumbnails128x128" / "00000" / f"{i:05d}.png")
    data = suite(root, split, public="ffhq").load()
    assert data.public.images.shape == (3, 3, 64, 64) and data.public.images.dtype == torch.uint8
    assert data.public.labels.tolist() == [UNLABELLED] * 3  # FFHQ has no identities


def test_facescrub_as_the_public_role_is_labelled_by_its_identity_folders(celeba):
    root, split = celeba
    for name, count in (("zoe", 2), ("adam", 1)):
        (root / "facescrub" / name).mkdir(parents=True)
        for i in range(count):
            face(10 + i, size=(90, 120)).save(root / "facescrub" / name / f"{i}.jpg")
    data = suite(root, split, public="facescrub").load()
    assert data.public.images.shape == (3, 3, 64, 64)
    assert data.public.labels.tolist() == [0, 1, 1]  # adam/0.jpg, zoe/0.jpg, zoe/1.jpg


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_cpu_with_an_imported_judge(celeba, tmp_path, capsys, private_cache):
    root, split = celeba
    cache_dir = ["--cache-dir", str(tmp_path / "explicit-cache")]  # every file goes there, none to $MIBENCH_CACHE
    torch.manual_seed(0)
    backbone = MODELS.get("facenet112")()
    judge = Classifier(backbone, nn.Linear(512, 1000))
    published = {f"module.{'fc_layer.' + k[5:] if k.startswith('head.') else k[len('backbone.'):]}": v
                 for k, v in judge.state_dict().items()}
    torch.save({"state_dict": published}, tmp_path / "FaceNet_95.88.tar")
    out = tmp_path / "runs"
    assert main(["run", "--suite", "celeba64", "--profile", "tiny", "--defense", "none", "--attack", "plg",
                 "--set", f"suite.split={split}", "--set", "suite.target=vgg16", "--data-root", str(root),
                 "--weights", f"evaluator={tmp_path / 'FaceNet_95.88.tar'}", "--out", str(out),
                 "--device", "cpu", *cache_dir]) == 0
    record = json.loads(next(out.rglob("record.json")).read_text())
    assert record["spec"]["suite_params"]["target"] == "vgg16"
    assert record["target_arch"] == "vgg16_bn_64" and record["evaluator_arch"] == "facenet112"
    assert record["spec"]["weights"]["evaluator"] == record["evaluator_weights"]["FaceNet_95.88.tar"]
    assert record["budget"]["classes"] == [0, 1]
    assert 0 <= record["metrics"]["attack_acc_top1"] <= 1
    for face_metric in ("facenet_dist", "lpips"):  # their weights are absent here: NaN with a note, never 0
        assert record["metrics"][face_metric] != record["metrics"][face_metric]
        assert "not found" in record["evaluator_notes"][face_metric]
    board = (out / "leaderboards" / "celeba64-tiny.csv").read_text()
    assert "none,plg" in board
    # a sweep on Ray pins the same judge and suite parameters in its rows: seed 1 joins seed 0's row
    assert main(["sweep", "--suite", "celeba64", "--profile", "tiny", "--defenses", "none", "--attacks", "plg",
                 "--seeds", "0,1", "--workers", "1", "--set", f"suite.split={split}", "--set", "suite.target=vgg16",
                 "--data-root", str(root), "--weights", f"evaluator={tmp_path / 'FaceNet_95.88.tar'}",
                 "--out", str(out), "--device", "cpu", *cache_dir]) == 0
    assert "1 already on the board, 1 to run" in capsys.readouterr().err
    rows = read_board(out / "leaderboards" / "celeba64-tiny.csv")
    assert len(rows) == 1 and rows.iloc[0]["seeds"] == "0 1"
    assert not private_cache.exists()


def test_suite_parameters_are_validated_and_join_the_config_hash():
    from mibench.errors import ConfigError
    from mibench.spec import resolve

    ir152 = resolve("celeba64", "none", "plg", "tiny")
    vgg = resolve("celeba64", "none", "plg", "tiny", overrides={"suite": {"target": "vgg16"}})
    assert ir152.suite_params["target"] == "ir152" and vgg.suite_params["target"] == "vgg16"
    assert ir152.config_hash != vgg.config_hash
    with pytest.raises(ConfigError, match=r"parameter target='resnet' must be one of 'ir152', 'vgg16', 'facenet64'"):
        resolve("celeba64", "none", "plg", "tiny", overrides={"suite": {"target": "resnet"}})
    with pytest.raises(ConfigError, match=r"has no parameter 'size'"):
        resolve("celeba64", "none", "plg", "tiny", overrides={"suite": {"size": "128"}})
