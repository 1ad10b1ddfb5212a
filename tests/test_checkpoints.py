"""Importing the field's published classifier checkpoints (mibench/checkpoints.py) into the
celeba64 architectures (mibench/models/irse.py, vgg.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mibench.checkpoints import import_classifier, read_state_dict
from mibench.errors import CheckpointError, ConfigError
from mibench.models import Classifier
from mibench.registries import MODELS
from mibench.spec import resolve

ARCHS = ("ir152_64", "facenet64", "facenet112", "vgg16_bn_64")


def classifier(arch: str, classes: int = 7, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    backbone = MODELS.get(arch)()
    return Classifier(backbone, nn.Linear(backbone.feature_dim, classes)).eval()


def published_layout(model: Classifier) -> dict[str, torch.Tensor]:
    """``model``'s weights under the published names (``feature.*``, ``output_layer.*``, ``fc_layer.*``)."""
    out = {}
    for k, v in model.state_dict().items():
        out[("fc_layer." + k[len("head."):]) if k.startswith("head.") else k[len("backbone."):]] = v.clone()
    return out


@pytest.mark.parametrize("arch, layout", [(a, "ked-dataparallel") for a in ARCHS] +
                         [("vgg16_bn_64", "mibench"), ("vgg16_bn_64", "bare")])
def test_a_published_file_of_each_layout_loads_into_its_architecture(arch, layout, tmp_path):
    source = classifier(arch, seed=1)
    state = published_layout(source)
    if layout == "ked-dataparallel":  # KED-MI / PLG-MI .tar: {"state_dict": DataParallel state}
        obj = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif layout == "mibench":  # MIBench .pth: {"state_dict": ..., "config": ...}
        obj = {"state_dict": state, "config": {"num_classes": 7, "register_last_feature_hook": False}}
    else:
        obj = state
    path = tmp_path / "model.tar"
    torch.save(obj, path)
    target = classifier(arch, seed=2)
    sha, notes = import_classifier(target, path)
    assert len(sha) == 64 and notes == []
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(target(x), source(x))


# Names and shapes read from the official definitions (face.evoLVe backbone/model_irse.py as copied by
# KED-MI's evolve.py; KED-MI's classify.py for the classifier wrappers), written out by hand.
PUBLISHED_KEYS = {
    "facenet64": {  # KED-MI FaceNet64: feature = IR_50_64, output_layer beside it, fc_layer
        "module.feature.input_layer.0.weight": (64, 3, 3, 3),
        "module.feature.input_layer.2.weight": (64,),  # PReLU
        "module.feature.body.0.res_layer.1.weight": (64, 64, 3, 3),
        "module.feature.body.0.res_layer.3.weight": (64, 64, 3, 3),
        "module.feature.body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
        "module.feature.body.3.shortcut_layer.1.running_var": (128,),
        "module.feature.body.23.res_layer.4.weight": (512,),
        "module.output_layer.0.weight": (512,),
        "module.output_layer.3.weight": (512, 512 * 4 * 4),
        "module.output_layer.4.running_mean": (512,),
        "module.fc_layer.weight": (1000, 512),
    },
    "ir152_64": {
        "module.feature.body.49.res_layer.3.weight": (512, 512, 3, 3),
        "module.feature.body.11.shortcut_layer.0.weight": (256, 128, 1, 1),
        "module.output_layer.3.bias": (512,),
        "module.fc_layer.bias": (1000,),
    },
    "facenet112": {  # KED-MI FaceNet: feature = IR_50_112 with its own output_layer
        "module.feature.output_layer.3.weight": (512, 512 * 7 * 7),
        "module.feature.output_layer.4.weight": (512,),
        "module.feature.body.20.res_layer.0.weight": (256,),
        "module.fc_layer.weight": (1000, 512),
    },
    "vgg16_bn_64": {  # KED-MI VGG16: torchvision vgg16_bn().features, BatchNorm1d(2048), fc_layer
        "module.feature.0.weight": (64, 3, 3, 3),
        "module.feature.1.running_mean": (64,),
        "module.feature.40.weight": (512, 512, 3, 3),
        "module.bn.weight": (2048,),
        "module.fc_layer.weight": (1000, 2048),
    },
}


@pytest.mark.parametrize("arch", list(PUBLISHED_KEYS))
def test_the_published_names_and_shapes_exist_in_mibench_s_definitions(arch):
    own = classifier(arch, classes=1000).state_dict()
    for key, shape in PUBLISHED_KEYS[arch].items():
        name = key[len("module."):]
        name = "head." + name[len("fc_layer."):] if name.startswith("fc_layer.") else "backbone." + name
        assert name in own, f"{key} has no counterpart {name}"
        assert tuple(own[name].shape) == shape, key


def test_a_checkpoint_of_another_architecture_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "VGG16_88.26.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in published_layout(classifier("vgg16_bn_64")).items()}}, path)
    with pytest.raises(CheckpointError, match=r"does not fit Classifier \[ir152_64\]: missing keys \d+ "
                                              r"\(backbone.*unexpected keys \d+ \(backbone.bn"):
        import_classifier(classifier("ir152_64"), path)


def test_a_checkpoint_with_another_class_count_names_the_wrong_shapes(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(published_layout(classifier("facenet64", classes=5)), path)
    with pytest.raises(CheckpointError, match=r"wrong shapes 2 \(head.bias \(5,\) \(expected \(7,\)\)"):
        import_classifier(classifier("facenet64", classes=7), path)


class Pickled:
    pass


def test_a_pickled_checkpoint_is_refused_never_loaded_unsafely(tmp_path):
    path = tmp_path / "FaceNet_95.88.tar"
    torch.save({"state_dict": {}, "args": Pickled()}, path)
    with pytest.raises(CheckpointError, match="refused it .*never loads checkpoints with unsafe unpickling"):
        read_state_dict(path)


def test_missing_file_and_a_file_without_a_state_dict_are_explained(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "IR152_91.16.tar")
    path = tmp_path / "x.pth"
    torch.save({"epoch": 3, "acc": torch.tensor(0.9), "net": {"meta": 1}}, path)
    with pytest.raises(CheckpointError, match=r"no state dict found \(after unwrapping \['net'\]"):
        read_state_dict(path)


def test_files_saved_before_batchnorm_counters_load_with_a_note(tmp_path):
    source = classifier("facenet64")
    state = {k: v for k, v in published_layout(source).items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.tar")
    _, notes = import_classifier(classifier("facenet64", seed=3), tmp_path / "old.tar")
    assert len(notes) == 1 and "num_batches_tracked counters absent" in notes[0]


def test_an_imported_target_cannot_be_combined_with_a_defense():
    with pytest.raises(ConfigError, match="cannot be combined with --defense calor"):
        resolve("tiny", "calor", "plg", "quick", weights={"target": "0" * 64})
    with pytest.raises(ConfigError, match="unknown role; roles: target, evaluator"):
        resolve("tiny", "none", "plg", "quick", weights={"judge": "0" * 64})
    plain, pinned = resolve("tiny", "none", "plg", "quick"), resolve("tiny", "none", "plg", "quick",
                                                                     weights={"target": "0" * 64})
    assert plain.weights == {} and pinned.weights == {"target": "0" * 64}
    assert plain.config_hash != pinned.config_hash
