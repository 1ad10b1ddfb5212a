"""Performance benchmarks of PLG-MI's hot loops at the mnist suite's full-profile sizes.

Skipped in the normal test run (``--benchmark-skip`` in setup.cfg); run them with
``pytest tests/test_benchmarks.py --benchmark-only``. They use the attack's own ``GanTrainer``
and ``Inverter`` on a randomly initialised target of the suite's architecture.
"""

import pytest
import torch

from mibench.access import Access, view_for
from mibench.attack import AttackContext
from mibench.attacks.plg import GanTrainer, PLGMI
from mibench.attacks.plg.networks import Generator
from mibench.data import PublicImages
from mibench.models import Classifier
from mibench.models.mcnn import MCNN
from mibench.spec import resolve
from mibench.suites.mnist import MnistSuite, PROFILES


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    suite = MnistSuite()
    attack = PLGMI(resolve("mnist", "none", "plg", "full").attack_params)
    target = Classifier(MCNN(**suite.target_arch_params), torch.nn.Linear(128, 5))
    ctx = AttackContext(target=view_for(Access.WHITE_BOX, target, 5, suite.image_shape),
                        public=PublicImages(torch.rand(256, 1, 32, 32), "random"), budget=PROFILES["full"].budget,
                        image_shape=suite.image_shape, num_classes=5, device=torch.device("cpu"), seed=0,
                        artifact=lambda name, config, build: build())
    return attack, ctx


def test_gan_iteration(benchmark, setting):
    attack, ctx = setting
    trainer = GanTrainer(attack, ctx, torch.rand(256, 1, 32, 32) * 2 - 1, torch.arange(256) % 5)
    benchmark(trainer.step)


def test_inversion_step(benchmark, setting):
    attack, ctx = setting
    G = Generator(5, ctx.image_shape, attack.params.gan_width, attack.params.dim_z)
    benchmark(attack.inverter(ctx, G).step)
