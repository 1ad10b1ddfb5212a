"""No defense: the target trained with plain cross-entropy (docs/protocol-card.md, target)."""

from __future__ import annotations

from mibench.defense import Defense


class NoDefense(Defense):
    name = "none"
    version = "1"
    paper = "baseline: cross-entropy training (MIBench recipe: SGD 0.01, momentum 0.9, wd 1e-4)"
    code = "https://github.com/ffhibnese/Model-Inversion-Attack-ToolBox"
