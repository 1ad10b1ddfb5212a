"""CALoR: what confidence adaptation does to p_y is measured and stored with the target."""

from __future__ import annotations

import math

import torch
from torch import nn

from mibench.cache import Cache
from mibench.data import ImageSet
from mibench.defenses.calor import CALoR, mean_true_class_probability
from mibench.registries import SUITES
from mibench.spec import resolve
from mibench.stages import train_target


class Fixed(nn.Module):
    """Logits read off the input: image i's two pixels are its logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_mean_true_class_probability_by_hand():
    images = torch.tensor([[[[0.0, math.log(3.0)]]], [[[0.0, 0.0]]]])  # softmax (1/4, 3/4) and (1/2, 1/2)
    data = ImageSet(images, torch.tensor([1, 0]))
    assert math.isclose(mean_true_class_probability(Fixed(), data, torch.device("cpu")), (0.75 + 0.5) / 2,
                        rel_tol=1e-6)


def test_the_target_stores_mean_p_y_before_and_after_ca(tmp_path):
    suite = SUITES.get("tiny")()
    spec = resolve("tiny", "calor", "plg", "quick")
    data = suite.load()
    defense = CALoR(spec.defense_params)
    trained = train_target(suite, suite.profile("quick"), defense, spec.defense_params, data, Cache(tmp_path),
                           torch.device("cpu"))
    before, after = trained.extra["ca_mean_py_before"], trained.extra["ca_mean_py_after"]
    assert 0.0 < before < 1.0 and 0.0 < after < 1.0
    assert after == mean_true_class_probability(trained.model, data.private_train, torch.device("cpu"))
    cached = train_target(suite, suite.profile("quick"), defense, spec.defense_params, data, Cache(tmp_path),
                          torch.device("cpu"))
    assert cached.extra == trained.extra  # the notes come back with the cached target
    lor_only = {**spec.defense_params, "ca": False}
    plain = train_target(suite, suite.profile("quick"), CALoR(lor_only), lor_only, data, Cache(tmp_path),
                         torch.device("cpu"))
    assert "ca_mean_py_before" not in plain.extra
