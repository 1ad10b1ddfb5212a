"""``mibench bench``: each hot loop of a suite at its real sizes, against the device's measured peak.

The loops are the pipeline's own code on random inputs (no data set needed):

- ``target train step``: one SGD step of the suite's target on a batch of the target recipe's size
  (uint8 images sent to the device and converted there, as :func:`mibench.training.fit` does);
- ``PLG-MI GAN step``: one generator step and ``n_dis`` discriminator steps of PLG-MI's conditional
  GAN (:class:`~mibench.attacks.plg.GanTrainer`, the profile's resolved parameters) with the target's
  max-margin term;
- ``PLG-MI inversion step``: one Adam step on every latent of the attack budget at once (classes x
  images x seeds; :class:`~mibench.attacks.plg.Inverter`), ``--inversion-batch`` caps it;
- ``judge forward``: the judge's logits and features of a batch of 256 images.

Per loop: items per second (images through the loop's main network per step), FLOPs per item
counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions,
forward and backward), achieved FLOP/s and its ratio to the device's matrix-multiply peak measured
in the same run, in the loop's precision (fp32 on the CPU; fp32 and bf16 on CUDA). With
``--precision bf16`` the loops the pipeline autocasts (target training, the attack) run under bf16
autocast as in a run, and are compared with the bf16 peak; the judge stays fp32. A ratio far below 1
marks the loop to speed up first.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import determinism
from .access import Access, view_for
from .attack import AttackBudget, AttackContext
from .attacks.plg import GanTrainer
from .attacks.plg.networks import Generator
from .data import PublicImages
from .models import Classifier
from .registries import ATTACKS, MODELS, SUITES
from .spec import resolve
from .tensors import as_float


@dataclass
class LoopResult:
    loop: str
    items_per_step: int
    items_per_s: float
    flops_per_item: float
    achieved_flops: float
    ratio_to_peak: float
    steps_timed: int
    precision: str = "fp32"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """FLOP/s of a square matrix multiply (2 n^3 per product) on ``device``: the reference peak."""
    n = 4096 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if count % 8 == 0:
            sync(device)
    sync(device)
    return 2 * n ** 3 * count / (time.perf_counter() - start)


def time_loop(step: Callable[[], None], device: torch.device, seconds: float) -> tuple[float, int]:
    """Seconds per step after one warm-up step; at least one timed step, then until ``seconds`` pass."""
    step()
    sync(device)
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        step()
        sync(device)
        count += 1
    return (time.perf_counter() - start) / count, count


def count_flops(step: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def classifier(arch: str, params: dict, classes: int, device: torch.device) -> Classifier:
    backbone = MODELS.get(arch)(**params)
    return Classifier(backbone, nn.Linear(backbone.feature_dim, classes)).to(device)


def random_images(n: int, shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    return as_float(torch.randint(0, 256, (n, *shape), dtype=torch.uint8).to(device))


def loops(suite_name: str, profile: str, device: torch.device, inversion_batch: int | None):
    """``{name: (step, items per step)}`` for the suite's hot loops."""
    suite = SUITES.get(suite_name)()
    prof = suite.profile(profile)
    shape, classes = suite.image_shape, suite.num_classes
    target = classifier(suite.target_arch, suite.target_arch_params, classes, device)
    judge = classifier(suite.evaluator_arch, suite.evaluator_arch_params, suite.judge_classes, device).eval()
    opt = torch.optim.SGD(target.parameters(), lr=prof.target.lr, momentum=prof.target.momentum)
    batch = prof.target.batch_size

    def train_step() -> None:
        x = random_images(batch, shape, device)
        loss = F.cross_entropy(target(x), torch.randint(0, classes, (batch,), device=device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    spec = resolve(suite_name, "none", "plg", profile)
    plg = ATTACKS.get("plg")(spec.attack_params)
    budget = prof.budget
    n = len(budget.classes) * budget.per_class * budget.seeds
    if inversion_batch is not None and inversion_batch < n:
        budget = AttackBudget(classes=budget.classes[:max(1, inversion_batch // (budget.per_class * budget.seeds))],
                              per_class=budget.per_class, seeds=budget.seeds)
    view = view_for(Access.WHITE_BOX, copy.deepcopy(target).eval(), classes, shape)  # the view freezes its model
    ctx = AttackContext(target=view, public=PublicImages(torch.empty(0), "bench"), budget=budget, image_shape=shape,
                        num_classes=classes, device=device, seed=0, artifact=None)
    gan = GanTrainer(plg, ctx, random_images(256, shape, device), torch.randint(0, classes, (256,), device=device))
    generator = Generator(classes, shape, plg.params.gan_width, plg.params.dim_z).to(
        device, memory_format=torch.channels_last)
    inverter = plg.inverter(ctx, generator)
    judge_batch = random_images(256, shape, device)

    def judge_step() -> None:
        with torch.no_grad():
            judge.head(judge.features(judge_batch))

    return {"target train step": (train_step, batch), "PLG-MI GAN step": (gan.step, plg.params.batch_size),
            "PLG-MI inversion step": (inverter.step, len(inverter.z)), "judge forward": (judge_step, 256)}


FP32_LOOPS = ("judge forward",)
"""Loops a run keeps in fp32 at every precision (the judge and the metrics)."""


def run_bench(suite: str, device: torch.device, profile: str = "full", seconds: float = 2.0,
              inversion_batch: int | None = None, precision: str = "fp32") -> dict:
    determinism.configure(determinism.thread_count(SUITES.get(suite).threads), precision)
    peaks = {"fp32": matmul_peak(device, torch.float32)}
    if device.type == "cuda" or precision == "bf16":
        peaks["bf16"] = matmul_peak(device, torch.bfloat16)
    results = []
    for name, (step, items) in loops(suite, profile, device, inversion_batch).items():
        loop_precision = "fp32" if name in FP32_LOOPS else precision

        def timed(step=step, loop_precision=loop_precision) -> None:
            with determinism.autocast(device) if loop_precision != "fp32" else contextlib.nullcontext():
                step()

        flops = count_flops(timed)
        per_step, count = time_loop(timed, device, seconds)
        achieved = flops / per_step
        results.append(LoopResult(name, items, items / per_step, flops / items, achieved,
                                  achieved / peaks[loop_precision], count, loop_precision))
    return {"suite": suite, "profile": profile, "device": str(device), "precision": precision,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else determinism.describe(),
            "threads": torch.get_num_threads(), "peak_flops": peaks, "loops": [asdict(r) for r in results],
            "torch": torch.__version__}


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
