"""Shared fixtures: a quiet environment, a private cache, and ``tiny``, the synthetic suite of
:mod:`mibench.testing` (small enough to run every registered component end to end in seconds)."""

from __future__ import annotations

import os

import pytest
import torch

from mibench import determinism
from mibench.testing import RECIPE, TinySuite, register_tiny_suite, synthetic_images  # noqa: F401 (tests import them)

os.environ["MIBENCH_QUIET"] = "1"
torch.set_num_threads(1)  # the tests' models are tiny: threads only add synchronisation


@pytest.fixture(scope="session", autouse=True)
def tiny_suite():
    yield register_tiny_suite()


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
