"""``tiny``: a synthetic suite small enough to run every registered component end to end in seconds.

Four classes of oriented gratings plus noise (:func:`synthetic_images`) at 32 x 32, a target of a
few hundred weights, and a ``quick`` profile that shrinks every component's budget to a handful of
steps. Nothing is downloaded, and the data are the same on every machine. The contract checks and
the component snapshots (:mod:`mibench.testing.checks`) run on it. :func:`register_tiny_suite`
registers it under the name ``"tiny"`` (it has no entry point: it is for tests, not for boards).
"""

from __future__ import annotations

import math

import torch

from ..attack import AttackBudget
from ..data import DataRoles, ImageSet
from ..registries import SUITES
from ..suite import Profile, Suite
from ..training import TrainRecipe


def synthetic_images(n_per_class: int, classes: range, size: int = 32, seed: int = 0) -> ImageSet:
    """Class k is a grating at angle k x 22.5 degrees plus noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    axis = torch.arange(size, dtype=torch.float32)
    i, j = torch.meshgrid(axis, axis, indexing="ij")
    images, labels = [], []
    for k in classes:
        theta = torch.tensor(k * math.pi / 8)
        grating = 0.5 + 0.4 * torch.sin(2 * math.pi * 0.25 * (torch.cos(theta) * i + torch.sin(theta) * j))
        x = grating + 0.1 * torch.randn(n_per_class, 1, size, size, generator=g)
        images.append(x.clamp(0, 1))
        labels.append(torch.full((n_per_class,), k))
    return ImageSet(torch.cat(images), torch.cat(labels))


RECIPE = TrainRecipe(epochs=5, batch_size=16, lr=0.05)


class TinySuite(Suite):
    name = "tiny"
    version = "1"
    paper = "synthetic test suite"
    code = "mibench/testing/suite.py"
    image_shape = (1, 32, 32)  # MCNN (GMI's) takes 32 x 32 images only
    num_classes = 4
    threads = 1
    target_arch = "mcnn"
    target_arch_params = {"in_channels": 1, "width": 0.125}
    evaluator_arch = "resnet_small"
    evaluator_arch_params = {"in_channels": 1, "widths": (4, 8), "blocks": 1, "feature_dim": 8}
    evaluator_recipe = RECIPE
    profiles = {
        "quick": Profile(
            description="tests", budget=AttackBudget(classes=(0, 1, 2), per_class=2, seeds=2),
            target=RECIPE,
            budget_scale={"epochs": 0.1, "iterations": 1e-4, "steps": 0.005},
            components={
                "defenses.calor": {"rank": 3},
                "attacks.plg": {"top_n": 8, "gan_width": 4, "n_dis": 2, "batch_size": 8},
                "priors.gmi-wgan": {"width": 4, "batch_size": 8, "n_critic": 2},
                "attacks.brep": {"points": 4, "start_batch": 16, "start_batches": 50},
                "priors.kedmi-gan": {"width": 4, "batch_size": 8, "n_critic": 2},
                "priors.lomma-surrogates": {"surrogates": (("resnet_small", {"widths": (4, 8), "blocks": 1}),) * 2,
                                            "batch_size": 16},
                "attacks.rlb": {"episodes": 8, "hidden": 16, "batch_size": 4},
            },
            notes={"all": "tiny synthetic budgets"},
        )
    }
    controls = {"plg": {"alpha": 0.0, "inversion_steps": 0}, "gmi": {"lam": 0.0}}

    def source(self) -> str:
        return "synthetic"

    def load(self, cache=None) -> DataRoles:
        return DataRoles(private_train=synthetic_images(24, range(4)),
                         private_test=synthetic_images(6, range(4), seed=1),
                         public=synthetic_images(12, range(4, 8), seed=2))


def register_tiny_suite() -> type[TinySuite]:
    """Register :class:`TinySuite` under ``"tiny"`` (once per process) and return it."""
    if "tiny" not in SUITES:
        SUITES.register()(TinySuite)
    return TinySuite
