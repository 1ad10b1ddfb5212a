"""TL: public pre-training (cached, on the public labels), then fine-tuning with a frozen prefix."""

from __future__ import annotations

import pytest
import torch

from mibench.cache import Cache
from mibench.components import resolve_params
from mibench.data import UNLABELLED, ImageSet
from mibench.defense import DefenseContext
from mibench.defenses.tl import TransferLearning, freeze, public_with_indexed_labels
from mibench.errors import ConfigError
from mibench.models.mcnn import MCNN
from mibench.registries import DEFENSES, SUITES
from mibench.spec import resolve
from mibench.stages import train_target
from mibench.training import TrainRecipe

RECIPE = TrainRecipe(epochs=1, batch_size=16, lr=0.05)


def context(cache=None) -> DefenseContext:
    data = SUITES.get("tiny")().load()  # private classes 0-3, public classes 4-7
    ctx = DefenseContext(data=data, num_classes=4, make_backbone=lambda: MCNN(1, 0.125), recipe=RECIPE,
                         device=torch.device("cpu"), seed=0)
    if cache is not None:
        ctx.cache = cache
    return ctx


def test_public_labels_are_indexed_in_sorted_order():
    public = ImageSet(torch.zeros(4, 1, 2, 2), torch.tensor([7, 5, 5, 9]))
    assert public_with_indexed_labels(public).labels.tolist() == [1, 0, 0, 2]


def test_an_unlabelled_public_set_is_refused_with_the_labelled_ones_named():
    public = ImageSet(torch.zeros(2, 1, 2, 2), torch.full((2,), UNLABELLED))
    with pytest.raises(ConfigError, match="suite.public=celeba or facescrub"):
        public_with_indexed_labels(public)


def test_freeze_returns_the_frozen_layers_and_their_batchnorms():
    backbone = MCNN(1, 0.125)  # layers: net.0 conv, net.1 bn, net.4 conv, net.5 bn, net.8 conv, net.9 bn
    names, norms = freeze(backbone, 0.7)  # round(4.2) = 4 layers
    assert names == ["net.0", "net.1", "net.4", "net.5"]
    assert norms == [backbone.net[1], backbone.net[5]]
    assert not any(p.requires_grad for p in backbone.net[:6].parameters())
    assert all(p.requires_grad for p in backbone.net[8:].parameters())


def test_pre_training_uses_the_public_images_and_labels(monkeypatch):
    calls = []
    original = DefenseContext.fit

    def spy(self, model, recipe=None, description="target", data=None, **kwargs):
        calls.append((data, model.head.out_features))
        return original(self, model, recipe, description, data, **kwargs)

    monkeypatch.setattr(DefenseContext, "fit", spy)
    ctx = context()
    TransferLearning().train(ctx)
    (pre_data, pre_classes), (tune_data, _) = calls
    assert torch.equal(pre_data.images, ctx.data.public.images)
    assert pre_data.labels.tolist() == (ctx.data.public.labels - 4).tolist() and pre_classes == 4
    assert tune_data is None  # fine-tuning on ctx.fit's default, private_train


def test_fine_tuning_leaves_frozen_weights_and_batchnorm_statistics_unchanged():
    stages = {}

    def cache(name, config, build):
        payload = build()
        stages[name] = {k: v.clone() for k, v in payload["state_dict"].items()}
        return payload

    model = TransferLearning({"freeze": 0.7}).train(context(cache))
    before, after = stages["tl-pretrain"], model.state_dict()
    frozen = ("backbone.net.0.", "backbone.net.1.", "backbone.net.4.", "backbone.net.5.")
    backbone = [k for k in after if k.startswith("backbone.")]
    assert {"backbone.net.5.running_mean", "backbone.net.5.running_var"} <= set(backbone)
    for key in backbone:
        unchanged = torch.equal(before[key], after[key])
        assert unchanged == key.startswith(frozen), key


def test_the_pre_training_stage_is_cached_and_reused_when_only_freeze_changes(tmp_path):
    suite = SUITES.get("tiny")()
    data = suite.load()

    def train(overrides):
        spec = resolve("tiny", "tl", "plg", "quick", overrides={"defense": overrides})
        cache = Cache(tmp_path / "cache")
        target = train_target(suite, suite.profile("quick"), DEFENSES.get("tl")(spec.defense_params),
                              spec.defense_params, data, cache, torch.device("cpu"))
        return cache, target

    first, _ = train({"freeze": "0.5"})
    again, target = train({"freeze": "0.7"})
    assert (first.builds, first.hits) == (["stages", "targets"], [])
    assert (again.builds, again.hits) == (["targets"], ["stages"])
    assert target.accuracy > 0.5


def test_bad_freeze_is_a_config_error():
    with pytest.raises(ConfigError):
        TransferLearning({"freeze": 1.5})


def test_the_ladder_freezes_more_layers_at_each_point():
    points = TransferLearning.ladder.points
    fractions = [resolve_params(TransferLearning.Params, p).freeze for p in points]
    assert fractions == [0.3, 0.5, 0.7, 0.9]
    assert [len(MCNN(1, 0.125).freeze_first(f)) for f in fractions] == [2, 3, 4, 5]
