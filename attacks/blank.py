"""The content-free attacker: a control that measures the judge, not the target.

Every reconstruction is the same uniform image of pixel value ``value`` (default 0, the black
background of MNIST-like suites), whatever the attacked class. The attack sends no query and reads
nothing, so no defense can change its score: it runs only as a control row (``--control``,
against ``none``). Its top-1 is the share of the attacked classes that the judge gives an image
with no content, the floor under every attack's number; its KNN distance and FID say how close
the judge's features put a blank image to the private ones.

Why it exists: on the ``mnist`` suite the judge reads a blank 32 x 32 image as the digit 1 (p =
0.99), and so do dim images of every digit (scaled to a tenth of their ink). An attack whose
class-1 reconstructions are nearly black scores class 1 for free, so the suite's floor is
1 / 5 = 0.20 top-1, not the 0.003 of GMI's prior-only control. Read every top-1 against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mibench.access import Access
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.components import param


class BlankControl(Attack):
    name = "blank"
    version = "1"
    paper = "mibench control: a uniform image for every class (no target access, no query)"
    code = "mibench: attacks/blank.py"
    access = Access.LABEL_ONLY  # the weakest view; it is never queried
    control_only = True

    @dataclass(frozen=True)
    class Params:
        value: float = param(0.0, min=0.0, max=1.0, help="the pixel value of every reconstruction")

    def query_budget(self) -> int | None:
        return 0

    def run(self, ctx: AttackContext) -> Reconstructions:
        labels, seeds = ctx.budget.labels_and_seeds()
        images = torch.full((len(labels), *ctx.image_shape), self.params.value)
        return Reconstructions(images, labels, seeds)
