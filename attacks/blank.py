"""The content-free attacker: a control that measures the judge, not the target.

Every reconstruction is the same uniform image of pixel value ``value`` (default 0, the black
background of MNIST-like suites), whatever the attacked class. The attack sends no query and reads
nothing, so no defense can change its score: it runs only as a control row (``--control``,
against ``none``). Its top-1 is the share of the attacked classes that the judge gives an image
with no content, the floor under every attack's number; its KNN distance and FID say how close
the judge's features put a blank image to the private ones.

Why it exists: a judge may credit an empty image to a private class. On ``mnist`` protocol v2 the
judge read a blank 32 x 32 image as the digit 1 (p = 0.99), and so dim images of every digit: an
attack whose class-1 reconstructions were nearly black scored class 1 for free, and the suite's
floor was 1 / 5 = 0.20 top-1. The v3 judge has a "no digit" class and reads a blank image as it,
so the floor is 0 (docs/protocol-card.md, judge). Read every top-1 against the control.
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
