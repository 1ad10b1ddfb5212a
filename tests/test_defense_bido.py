"""BiDO: its kernels and dependence measures against values computed by hand, and its loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mibench.components import resolve_params
from mibench.defenses.bido import BiDO, coco, gaussian_kernel, hsic, label_kernel
from mibench.errors import ConfigError
from mibench.models import Classifier
from mibench.models.mcnn import MCNN

EPS = 1e-5  # BiDO's ridge, scaled by m inside hsic


def test_gaussian_kernel_by_hand():
    # points (0,0), (1,1), (0,2) in d = 2, sigma = 1: bandwidth 2 * 1^2 * 2 = 4;
    # squared distances 2, 4, 2 -> exp(-1/2), exp(-1), exp(-1/2)
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    a, b = math.exp(-0.5), math.exp(-1.0)
    expected = torch.tensor([[1.0, a, b], [a, 1.0, a], [b, a, 1.0]])
    assert torch.allclose(gaussian_kernel(x, 1.0), expected)


def test_gaussian_kernel_flattens_each_sample():
    # a 1 x 2 x 2 image per sample: d = 4; the two samples differ by 1 in every pixel, so the
    # squared distance is 4 and with sigma = 1 the kernel is exp(-4 / (2 * 4)) = exp(-1/2)
    x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
    assert gaussian_kernel(x, 1.0)[0, 1].item() == pytest.approx(math.exp(-0.5))


def test_label_kernel_is_the_linear_kernel_of_one_hot_labels():
    y = torch.tensor([2, 0, 2])
    one_hot = F.one_hot(y, 3).float()
    assert torch.equal(label_kernel(y), one_hot @ one_hot.T)


def two_points() -> tuple[torch.Tensor, float]:
    """K of (0,0), (1,1) with sigma = 1 is [[1, a], [a, 1]], a = exp(-1/2). With
    H = I - 11^T/2 (a projection of rank 1), K H = (1 - a) H =: c H."""
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    return gaussian_kernel(x, 1.0), 1 - math.exp(-0.5)


def test_hsic_by_hand():
    # R = cH (cH + 2 eps I)^-1 = c / (c + 2 eps) H on H's range; distinct labels: L H = H, c_L = 1;
    # tr(R_K R_L) = c/(c + 2 eps) * 1/(1 + 2 eps) * tr(H), tr(H) = 1
    k, c = two_points()
    l = label_kernel(torch.tensor([0, 1]), torch.float64)
    assert hsic(k, l).item() == pytest.approx(c / (c + 2 * EPS) / (1 + 2 * EPS), rel=1e-12)


def test_hsic_of_three_distinct_labels_with_themselves_by_hand():
    # L = I, L H = H, R = H / (1 + 3 eps), tr(R R) = tr(H) / (1 + 3 eps)^2 = 2 / (1 + 3 eps)^2
    l = label_kernel(torch.tensor([0, 1, 2]), torch.float64)
    assert hsic(l, l).item() == pytest.approx(2 / (1 + 3 * EPS) ** 2, rel=1e-12)


def test_coco_by_hand():
    # H K H = c H, H L H = H (distinct labels): ||c H H||_F = c ||H||_F = c; COCO = sqrt(c) / 2
    k, c = two_points()
    l = label_kernel(torch.tensor([0, 1]), torch.float64)
    assert coco(k, l).item() == pytest.approx(math.sqrt(c) / 2, rel=1e-12)


@pytest.mark.parametrize("measure", [hsic, coco])
def test_a_constant_variable_has_no_dependence(measure):
    # one label for the whole batch: L = 11^T, L H = 0
    k, _ = two_points()
    assert measure(k, label_kernel(torch.tensor([3, 3]), torch.float64)).item() == 0.0


@pytest.mark.parametrize("measure, factor", [(hsic, 10.0), (coco, 2.0)])
def test_identical_variables_depend_more_than_independent_ones(measure, factor):
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(32, 1, generator=g), torch.rand(32, 1, generator=g)
    ka, kb = gaussian_kernel(a, 5.0), gaussian_kernel(b, 5.0)
    assert measure(ka, ka).item() > factor * measure(ka, kb).item()


@pytest.mark.parametrize("measure", [hsic, coco])
def test_features_that_encode_the_label_depend_on_it_more(measure):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    encoded = F.one_hot(y, 4).float() + 0.1 * torch.rand(32, 4, generator=g)
    noise = torch.rand(32, 4, generator=g)
    ky = label_kernel(y)  # rank 3 once centred: the normalised HSIC with it is at most 3
    assert measure(gaussian_kernel(encoded, 1.0), ky) > 1.5 * measure(gaussian_kernel(noise, 1.0), ky)


DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("measure", [hsic, coco])
def test_measures_compute_on_the_inputs_device_and_dtype(measure, device):
    """``meta`` tensors have no data: any copy to the CPU on the way would raise."""
    x = torch.rand(6, 1, 4, 4, dtype=torch.float64, device=device)
    y = torch.tensor([0, 1, 2, 0, 1, 2], device=device)
    k, l = gaussian_kernel(x, 5.0), label_kernel(y, x.dtype)
    out = measure(k, l)
    assert (k.device.type, l.dtype, out.device.type, out.dtype) == (device, torch.float64, device, torch.float64)


def tiny_model() -> Classifier:
    torch.manual_seed(0)
    backbone = MCNN(1, 0.125)
    return Classifier(backbone, nn.Linear(backbone.feature_dim, 4)).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 1, 32, 32, generator=g), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])


@pytest.mark.parametrize("measure", ["hsic", "coco"])
def test_the_loss_is_cross_entropy_plus_the_dependence_terms_over_the_three_conv_blocks(measure):
    model, (x, y) = tiny_model(), batch()
    defense = BiDO({"measure": measure, "lambda_x": 0.3, "lambda_y": 0.7})
    d = {"hsic": hsic, "coco": coco}[measure]
    logits, hidden = model.forward_intermediates(x)
    blocks = hidden[:3]  # MCNN's three conv blocks; hidden[3] is the feature, the third flattened
    assert [z.shape[1] for z in blocks] == [8, 16, 32] and len(hidden) == 4
    kx, ky = gaussian_kernel(x, 5.0), label_kernel(y)
    dxz = sum(d(kx, gaussian_kernel(z, 5.0)) for z in blocks)
    dzy = sum(d(gaussian_kernel(z, 5.0), ky) for z in blocks)
    expected = F.cross_entropy(logits, y) + 0.3 * dxz - 0.7 * dzy
    assert torch.allclose(defense.loss(model, x, y), expected)


def test_with_zero_weights_the_loss_is_cross_entropy():
    model, (x, y) = tiny_model(), batch()
    loss = BiDO({"lambda_x": 0.0, "lambda_y": 0.0}).loss(model, x, y)
    assert torch.equal(loss, F.cross_entropy(model(x), y))


def test_the_loss_has_finite_gradients():
    model, (x, y) = tiny_model(), batch()
    BiDO().loss(model.train(), x, y).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("bad", [{"measure": "x"}, {"sigma": 0.0}, {"lambda_x": -1.0}])
def test_bad_parameters_are_config_errors(bad):
    with pytest.raises(ConfigError):
        BiDO(bad)


def test_the_ladder_scales_both_weights_together_from_weak_to_strong():
    points = BiDO.ladder.points
    for point in points:
        resolve_params(BiDO.Params, point)
    assert [p["lambda_y"] / p["lambda_x"] for p in points] == pytest.approx([10.0] * len(points))
    assert [p["lambda_x"] for p in points] == sorted(p["lambda_x"] for p in points)
    assert {"lambda_x": 0.05, "lambda_y": 0.5} in points  # the paper's default is on it
