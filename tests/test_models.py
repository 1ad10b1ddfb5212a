"""The backbones' timm-style intermediates API (forward_intermediates, feature_info, layers, freeze_first)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mibench.models import Backbone, Classifier
from mibench.models.mcnn import MCNN
from mibench.models.resnet_small import ResNetSmall

_BN = "weight bias running_mean running_var num_batches_tracked".split()
# state_dict keys recorded before the intermediates API was added (cached weights load by key)
MCNN_KEYS = [f"net.{i}.{p}" for c in (0, 4, 8) for i, ps in ((c, ["weight", "bias"]), (c + 1, _BN)) for p in ps]
_RES_BLOCK = lambda i: ([f"net.{i}.bn1.{p}" for p in _BN] + [f"net.{i}.conv1.weight"]  # noqa: E731
                        + [f"net.{i}.bn2.{p}" for p in _BN] + [f"net.{i}.conv2.weight"])
RESNET_KEYS = (["net.0.weight"] + _RES_BLOCK(1) + _RES_BLOCK(2) + ["net.2.shortcut.weight"] + _RES_BLOCK(3)
               + ["net.3.shortcut.weight"] + [f"net.4.{p}" for p in _BN] + ["net.8.weight", "net.8.bias"])


def _models():
    torch.manual_seed(0)
    return {"mcnn": MCNN(width=0.5), "resnet": ResNetSmall(1, (16, 32, 64), 1, 128)}


def test_state_dict_keys_unchanged():
    m = _models()
    assert list(m["mcnn"].state_dict()) == MCNN_KEYS
    assert list(m["resnet"].state_dict()) == RESNET_KEYS


@pytest.mark.parametrize("name, shapes, names, strides", [
    ("mcnn", [(2, 32, 14, 14), (2, 64, 5, 5), (2, 128, 1, 1)], ["net.3", "net.7", "net.10"], [2, 4, 4]),
    ("resnet", [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)], ["net.1", "net.2", "net.3"], [1, 2, 4]),
])
def test_forward_intermediates(name, shapes, names, strides):
    model = _models()[name]
    x = torch.randn(2, 1, 32, 32)
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            feature, hidden = model.forward_intermediates(x)
            assert torch.equal(feature, model(x))
        assert [tuple(h.shape) for h in hidden] == shapes
    assert model.stage_names == names
    assert [f["num_chs"] for f in model.feature_info] == [s[1] for s in shapes]
    assert [f["reduction"] for f in model.feature_info] == strides  # the stride (MCNN's convs are unpadded)
    modules = dict(model.named_modules())
    assert all(n in modules for n in names)


def test_mcnn_is_the_official_gmi_bido_network():
    """GMI's MNIST/classify.py (BiDO's model.py): conv7 padding 1, conv5 and conv5 unpadded, max-pools after the
    first two; at 32 px 32 -> 28 -> 14 -> 10 -> 5 -> 1 x 1, and the feature is that map flattened, no pooling."""
    model = MCNN(width=1.0).eval()
    convs = [m for m in model.net if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((7, 7), (1, 1)), ((5, 5), (0, 0)), ((5, 5), (0, 0))]
    assert not any(isinstance(m, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d)) for m in model.modules())
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert [tuple(model.net[:i + 1](x).shape[-2:]) for i in (0, 3, 4, 7, 8)] == [(28, 28), (14, 14), (10, 10),
                                                                                    (5, 5), (1, 1)]
        feature, hidden = model.forward_intermediates(x)
        assert [tuple(h.shape) for h in hidden] == [(3, 64, 14, 14), (3, 128, 5, 5), (3, 256, 1, 1)]
        assert feature.shape == (3, 256) == (3, model.feature_dim) and torch.equal(feature, hidden[2].flatten(1))
    # parameters by hand: conv weights + biases, BatchNorm weights + biases
    by_layer = [1 * 64 * 49 + 64, 2 * 64, 64 * 128 * 25 + 128, 2 * 128, 128 * 256 * 25 + 256, 2 * 256]
    assert [sum(p.numel() for p in m.parameters()) for m in model.layers()] == by_layer
    assert sum(p.numel() for p in model.parameters()) == sum(by_layer) == 1_028_480
    half = MCNN(3, 0.5)
    assert [m.out_channels for m in half.net if isinstance(m, nn.Conv2d)] == [32, 64, 128] and half.feature_dim == 128
    assert half(torch.randn(2, 3, 32, 32)).shape == (2, 128)
    with pytest.raises(ValueError, match="MCNN takes 32 x 32 images.*got 16 x 16"):
        model(torch.randn(1, 1, 16, 16))


def test_classifier_forward_intermediates():
    model = Classifier(_models()["mcnn"], nn.Linear(128, 5)).eval()
    x = torch.randn(2, 1, 32, 32)
    logits, hidden = model.forward_intermediates(x)
    assert torch.equal(logits, model(x))
    assert len(hidden) == 4 and torch.equal(hidden[-1], model.features(x))


@pytest.mark.parametrize("name, layer_names", [
    ("mcnn", ["net.0", "net.1", "net.4", "net.5", "net.8", "net.9"]),
    ("resnet", ["net.0", "net.1", "net.2", "net.3", "net.4", "net.8"]),
])
def test_freeze_first(name, layer_names):
    model = _models()[name]
    names = {id(m): n for n, m in model.named_modules()}
    assert [names[id(m)] for m in model.layers()] == layer_names
    assert {id(p) for m in model.layers() for p in m.parameters()} == {id(p) for p in model.parameters()}
    frozen = model.freeze_first(0.5)
    assert frozen == layer_names[:3]
    for m in model.layers():
        assert all(p.requires_grad == (names[id(m)] not in frozen) for p in m.parameters())
    assert model.freeze_first(0.0) == [] and len(model.freeze_first(1.0)) == len(layer_names)
    with pytest.raises(ValueError):
        model.freeze_first(1.5)


def test_backbone_without_intermediates_fails_clearly():
    class Plain(Backbone):
        feature_dim = 4

        def forward(self, x):
            return x.flatten(1)

    with pytest.raises(NotImplementedError, match="Plain.*forward_intermediates"):
        Plain().forward_intermediates(torch.zeros(1, 4))
    with pytest.raises(NotImplementedError, match="Plain"):
        Plain().freeze_first(0.5)
    assert Plain().stage_names == []


def test_maxpool2x2_without_gradient_gives_max_pool2d_values_to_the_last_bit():
    from mibench.models.layers import MaxPool2x2

    x = torch.randn(4, 3, 8, 6)
    x[0, 0, 0, :2] = 1.5  # a tie
    x[1, 1, 2, 2] = float("nan")
    pool, reference = MaxPool2x2(), torch.nn.MaxPool2d(2)
    with torch.no_grad():
        out = pool(x)
        assert torch.equal(out.nan_to_num(7.0), reference(x).nan_to_num(7.0)) and out[1, 1, 1, 1].isnan()
        assert torch.equal(pool(x[..., :5]).nan_to_num(7.0), reference(x[..., :5]).nan_to_num(7.0))  # odd: torch's


def test_maxpool2x2_with_gradient_sends_a_tied_windows_gradient_to_one_input_as_torch_does():
    from mibench.models.layers import MaxPool2x2

    x = torch.ones(1, 1, 2, 2, requires_grad=True)  # all four tied
    MaxPool2x2()(x).sum().backward()
    assert sorted(x.grad.flatten().tolist()) == [0.0, 0.0, 0.0, 1.0]
