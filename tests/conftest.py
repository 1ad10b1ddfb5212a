"""Shared fixtures: a quiet environment, a private cache, and ``tiny``, a synthetic suite small
enough to run every registered component end to end in seconds."""

from __future__ import annotations

import math
import os

import pytest
import torch

from mibench import determinism
from mibench.attack import AttackBudget
from mibench.data import DataRoles, ImageSet
from mibench.registries import SUITES
from mibench.suite import Profile, Suite
from mibench.training import TrainRecipe

os.environ["MIBENCH_QUIET"] = "1"
torch.set_num_threads(1)  # the tests' models are tiny: threads only add synchronisation


def synthetic_images(n_per_class: int, classes: range, size: int = 16, seed: int = 0) -> ImageSet:
    """Class k is a grating at angle k x 22.5 degrees plus noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    i, j = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
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
    code = "tests/conftest.py"
    image_shape = (1, 16, 16)
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
                "priors.lomma-surrogates": {"surrogates": (("mcnn", {"width": 0.125}),) * 2, "batch_size": 16},
                "attacks.rlb": {"episodes": 8, "hidden": 16, "batch_size": 4},
            },
            notes={"all": "tiny synthetic budgets"},
        )
    }
    controls = {"plg": {"alpha": 0.0, "inversion_steps": 0}, "gmi": {"lam": 0.0}}

    def source(self) -> str:
        return "synthetic"

    def load(self) -> DataRoles:
        return DataRoles(private_train=synthetic_images(24, range(4)), private_test=synthetic_images(6, range(4), seed=1),
                         public=synthetic_images(12, range(4, 8), seed=2))


@pytest.fixture(scope="session", autouse=True)
def tiny_suite():
    if "tiny" not in SUITES:
        SUITES.register()(TinySuite)
    yield TinySuite


@pytest.fixture(autouse=True)
def fp32_after_each_test():
    """A test that switches the process to bf16 (``--precision``) does not leak it into the next."""
    yield
    if determinism.precision() != "fp32":
        determinism.configure(determinism.thread_count(TinySuite.threads))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test gets its own artifact cache."""
    monkeypatch.setenv("MIBENCH_CACHE", str(tmp_path / "cache"))
    yield tmp_path / "cache"
