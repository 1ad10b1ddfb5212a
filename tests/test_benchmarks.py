"""Performance benchmarks of every hot loop at the mnist suite's full-profile sizes, one per component.

Skipped in the normal test run (``--benchmark-skip`` in setup.cfg); run them with
``pytest tests/test_benchmarks.py --benchmark-only``. They are the loops ``mibench bench`` times
(the suite's, and those each registered attack, prior and defense declares), on random data and
randomly initialised networks; each benchmark round runs one step of each of the component's loops.
"""

from functools import cache

import pytest
import torch

from mibench.bench import Setting, loops
from mibench.registries import ATTACKS, DEFENSES, PRIORS

COMPONENTS = ["suite mnist", *(f"defense {n}" for n in DEFENSES.names()), *(f"prior {n}" for n in PRIORS.names()),
              *(f"attack {n}" for n in ATTACKS.names())]


@cache
def declared() -> dict:
    torch.manual_seed(0)
    return loops(Setting("mnist", "full", torch.device("cpu"), None))


@pytest.mark.parametrize("component", COMPONENTS)
def test_hot_loops(benchmark, component):
    steps = [loop.step for owner, loop in declared().values() if owner == component]
    if not steps:
        pytest.skip(f"{component} declares no hot loop")
    benchmark(lambda: [step() for step in steps])
