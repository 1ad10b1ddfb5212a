"""KNN distance (PROTOCOL.md section 2).

For each reconstruction x^ of class c: the squared L2 distance, in the evaluation model's
penultimate features, to the nearest private_train image of class c. Reported: the mean over all
reconstructions (PLG-MI uses all images, not only successful ones). Lower = closer to private data.
"""

from __future__ import annotations

import torch

from mibench.attack import Reconstructions
from mibench.evaluator import EvalContext, Evaluator


def nearest_same_class(query: torch.Tensor, query_labels: torch.Tensor, bank: torch.Tensor,
                       bank_labels: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query: squared L2 distance to, and index of, the nearest ``bank`` row of the same label."""
    dists, index = [], []
    bank = bank.double()
    for i in range(0, len(query), chunk):
        q = query[i:i + chunk].double()
        d = torch.cdist(q, bank).pow(2)
        d = d.masked_fill(query_labels[i:i + chunk, None] != bank_labels[None, :], float("inf"))
        best = d.min(1)
        dists.append(best.values)
        index.append(best.indices)
    dist = torch.cat(dists)
    if torch.isinf(dist).any():
        raise ValueError("a reconstruction's class has no private_train image to compare with")
    return dist, torch.cat(index)


class KNNDistance(Evaluator):
    name = "knn"
    version = "1"
    paper = "Chen et al., Knowledge-Enriched Distributional MI (KED-MI), ICCV 2021; PLG-MI, AAAI 2023"
    code = "https://github.com/LetheSec/PLG-MI-Attack"

    def evaluate(self, recon: Reconstructions, ctx: EvalContext) -> dict[str, float]:
        _, feats = ctx.evaluator_outputs(recon.images)
        dist, _ = nearest_same_class(feats, recon.labels, ctx.private_features, ctx.private_train.labels)
        return {"knn_dist": dist.mean().item()}
