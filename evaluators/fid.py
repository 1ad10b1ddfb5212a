"""FID (docs/protocol-card.md, metrics): Frechet distance between Gaussian fits of features of the
reconstructions and of the private_train images of the attacked classes:

    FID = ||mu_r - mu_p||^2 + Tr(S_r + S_p - 2 (S_r S_p)^(1/2))

Features: InceptionV3 pool3 with the standard FID weights when they are found locally
(``evaluators/inception.py``: an asset, looked for in ``--assets-dir`` too), otherwise the
penultimate features of the suite's evaluation model; the ``fid_backbone`` column says which
produced the number, and numbers from different backbones are not comparable. ``subset = "all"``
uses every reconstruction (MIBench); ``"successful"`` only those the evaluation model classifies
as their target class (PLG-MI). Errors are raised, never reported as 0; with fewer than two
images in the subset the FID is undefined and reported as NaN. The reference statistics of
private data are cached per suite and backbone (and the Inception weights' SHA-256).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg

from mibench.components import param
from mibench.evaluator import EvalContext, Evaluator, Metric
from mibench.tensors import batched

from .inception import BACKBONE, find_weights, inception_pool3

log = logging.getLogger(__name__)


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = features.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance of two Gaussians (Dowson & Landau 1982), pytorch-fid's numerics."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():  # singular product: offset the diagonals
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag)):.3g} in the matrix square root")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class FID(Evaluator):
    name = "fid"
    version = "1"
    paper = "Heusel et al., GANs Trained by a Two Time-Scale Update Rule (NeurIPS 2017); pytorch-fid"
    code = "https://github.com/mseitzer/pytorch-fid"

    metrics = (
        Metric("fid", False, "Frechet distance to the private images of the attacked classes"),
        Metric("fid_backbone", False, "which features the FID was computed in", kind="text"),
        Metric("fid_subset", False, "all reconstructions or only the successful ones (the parameter)", kind="text",
               diagnostic=True),
        Metric("fid_n", True, "number of reconstructions in the FID", fmt=".0f", diagnostic=True),
    )

    @dataclass(frozen=True)
    class Params:
        subset: str = param("all", choices=("all", "successful"), help="all (MIBench) or successful (PLG-MI)")

    def extractor(self, ctx: EvalContext):
        """(backbone name, images -> features, whether it is the evaluator's penultimate layer, the
        Inception weights' SHA-256 or "" for the evaluator's features)."""
        found = find_weights(ctx.assets_dirs)
        if found is not None:
            ctx.weights[found[0].name] = found[1]
            return BACKBONE, inception_pool3(found[0], ctx.device), False, found[1]
        return f"{ctx.evaluator_name}-penultimate", ctx.evaluator.features, True, ""

    def evaluate(self, ctx: EvalContext) -> dict[str, float | str]:
        recon = ctx.recon
        backbone, extract, is_evaluator, weights_sha256 = self.extractor(ctx)
        keep = (ctx.logits.argmax(1) == recon.labels if self.params.subset == "successful"
                else torch.ones(len(recon.labels), dtype=torch.bool))
        n = int(keep.sum())
        out: dict[str, float | str] = {"fid_backbone": backbone, "fid_subset": self.params.subset, "fid_n": float(n)}
        if n < 2:
            log.warning("FID undefined: %d reconstructions in subset %r", n, self.params.subset)
            return {**out, "fid": float("nan")}
        classes = recon.labels.unique()
        in_classes = torch.isin(ctx.private_train.labels, classes)

        def build() -> dict:
            feats = (ctx.private_features[in_classes] if is_evaluator
                     else batched(extract, ctx.private_train.images[in_classes], ctx.device, 256))
            mu, sigma = gaussian_stats(feats)
            return {"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma)}

        weights = {"weights": weights_sha256} if weights_sha256 else {}  # the fallback's key is unchanged
        ref = ctx.artifact("fid-reference", {"backbone": backbone, "classes": classes.tolist(),
                                             "fid_version": self.version, **weights}, build)
        feats = ctx.features[keep] if is_evaluator else batched(extract, recon.images[keep], ctx.device, 256)
        mu, sigma = gaussian_stats(feats)
        return {**out, "fid": frechet_distance(mu, sigma, ref["mu"].numpy(), ref["sigma"].numpy())}

