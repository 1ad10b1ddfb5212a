"""BiDO: Bilateral Dependency Optimization (Peng et al., KDD 2022).

Paper: "Bilateral Dependency Optimization: Defending Against Model-inversion Attacks",
arXiv 2206.05483; code github.com/AlanPeng0897/Defend_MI (``BiDO/engine.py``, ``BiDO/hsic.py``).
The target is trained with (docs/protocol-card.md, ``defenses.bido``)

    L = CE(f(X), Y) + lambda_x * sum_j D(X, Z_j) - lambda_y * sum_j D(Z_j, Y),

minimising the dependence of each hidden representation Z_j on the input X (what an inversion
exploits) while keeping it dependent on the label Y (utility). Z_j are the backbone's stage outputs
(``forward_intermediates``), each flattened per sample: for MCNN its three conv blocks, as in the
official MCNN (its third block is 1 x 1, i.e. its feature, as in mibench's MCNN since its version 2).
The official VGG16 also adds the penultimate feature; mibench does not.

D is computed per batch of m samples from kernel matrices (official ``hsic.py``):

- K_X, K_Z: Gaussian, ``exp(-||a_i - a_j||^2 / (2 sigma^2 d))`` with d the flattened dimension and
  sigma = 5; K_Y: linear kernel on one-hot labels (``train_HSIC.py``'s default ``--ktype linear``).
- "hsic", normalised HSIC: ``tr(R_K R_L)`` with ``R_K = K H (K H + eps m I)^-1``,
  ``H = I - 11^T / m``, eps = 1e-5 (the code centres K on the right only).
- "coco", constrained covariance: ``sqrt(||H K H . H L H||_F) / m`` (the code takes the Frobenius
  norm; Gretton et al.'s COCO uses the spectral norm).

Kernels stay on the input's device and dtype (the official code moves them to the CPU).

Weights (lambda_x, lambda_y): (0.05, 0.5) with HSIC on CelebA against GMI/KED-MI (the defaults),
(1, 50) with COCO on MNIST against KED-MI, (0.1, 2) against VMI. Training uses the suite's target
recipe, shared by all defenses (the official scripts use Adam; MCNN: 20 epochs, batch 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from mibench import determinism
from mibench.claims import Defends
from mibench.components import param
from mibench.defense import Defense, DefenseContext, Ladder
from mibench.errors import ConfigError
from mibench.hotloops import HotLoop

EPSILON = 1e-5
"""Ridge of the normalised HSIC's inverse, scaled by the batch size (official ``hsic.py``)."""


def gaussian_kernel(a: torch.Tensor, sigma: float) -> torch.Tensor:
    """``K_ij = exp(-||a_i - a_j||^2 / (2 sigma^2 d))`` over ``a`` flattened to m x d."""
    a = a.flatten(1)
    sq = a.pow(2).sum(1, keepdim=True)
    dist = (sq - 2 * a @ a.T + sq.T).clamp_min(0)
    return torch.exp(-dist / (2 * sigma ** 2 * a.shape[1]))


def label_kernel(y: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The linear kernel of one-hot labels: ``K_ij = 1`` when ``y_i == y_j``, else 0."""
    return (y[:, None] == y[None, :]).to(dtype)


def _centering(k: torch.Tensor) -> torch.Tensor:
    m = k.shape[0]
    return torch.eye(m, dtype=k.dtype, device=k.device) - 1.0 / m


def hsic(k: torch.Tensor, l: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """Normalised HSIC of two m x m kernel matrices: ``tr(R_K R_L)``, ``R_K = KH (KH + eps m I)^-1``."""
    h = _centering(k)
    ridge = eps * k.shape[0] * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    kc, lc = k @ h, l @ h
    rk = torch.linalg.solve(kc + ridge, kc, left=False)
    rl = torch.linalg.solve(lc + ridge, lc, left=False)
    return (rk * rl.T).sum()


def coco(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """COCO of two m x m kernel matrices as BiDO computes it: ``sqrt(||HKH HLH||_F) / m``."""
    h = _centering(k)
    return torch.linalg.matrix_norm((h @ k @ h) @ (h @ l @ h)).sqrt() / k.shape[0]


MEASURES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"hsic": hsic, "coco": coco}


class BiDO(Defense):
    name = "bido"
    version = "1"
    paper = "Peng et al., Bilateral Dependency Optimization: Defending Against Model-inversion Attacks, KDD 2022"
    code = "https://github.com/AlanPeng0897/Defend_MI"
    claims = (Defends("lowering the dependency between input and latent representations, keeping it with the labels, "
                      "lowers the attacks' accuracy (shown against GMI, KED-MI and VMI)"),)

    @dataclass(frozen=True)
    class Params:
        measure: str = param("hsic", choices=("hsic", "coco"), help="dependence measure D")
        lambda_x: float = param(0.05, min=0.0, help="weight of sum_j D(X, Z_j), minimised")
        lambda_y: float = param(0.5, min=0.0, help="weight of sum_j D(Z_j, Y), maximised")
        sigma: float = param(5.0, min=0.0, help="Gaussian kernel width (> 0); bandwidth 2 sigma^2 d")

    # Both weights move together at the CelebA HSIC recipe's ratio 1:10, from a fifth of the paper's
    # default to four times it (the lambda_x term is what defends; lambda_y restores utility).
    ladder = Ladder("lambda_x,lambda_y", tuple({"lambda_x": x, "lambda_y": 10 * x}
                                               for x in (0.01, 0.025, 0.05, 0.1, 0.2)))

    def __init__(self, params: dict[str, Any] | None = None):
        super().__init__(params)
        if not self.params.sigma > 0:
            raise ConfigError(f"BiDO (bido): parameter sigma={self.params.sigma!r} must be > 0")

    def dependence(self, x: torch.Tensor, hidden: list[torch.Tensor],
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sum_j D(X, Z_j), sum_j D(Z_j, Y))`` over the hidden representations ``hidden``, in
        fp32 at every precision (kernel distances and solves do not survive bf16)."""
        measure, sigma = MEASURES[self.params.measure], self.params.sigma
        with determinism.fp32(x.device):
            kx, ky = gaussian_kernel(x.float(), sigma), label_kernel(y)
            kzs = [gaussian_kernel(z.float(), sigma) for z in hidden]
            return sum(measure(kx, kz) for kz in kzs), sum(measure(kz, ky) for kz in kzs)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, hidden = model.forward_intermediates(x)
        dxz, dzy = self.dependence(x, hidden[:-1], y)  # the backbone's stages, without the feature
        return F.cross_entropy(logits, y) + self.params.lambda_x * dxz - self.params.lambda_y * dzy

    def hot_loops(self, ctx: DefenseContext) -> dict[str, HotLoop]:
        """``train step``: one step on L = CE + lambda_x sum_j D(X, Z_j) - lambda_y sum_j D(Z_j, Y): the
        kernel matrices of the batch and every stage, their dependence measures and the backward."""
        return {"train step": self.train_step(ctx)}
