"""KNN distance (docs/protocol-card.md, metrics).

For each reconstruction x^ of class c: the squared L2 distance, in the evaluation model's
penultimate features, to the nearest private_train image of class c. Reported: the mean over all
reconstructions (PLG-MI uses all images, not only successful ones). Lower = closer to private data.
"""

from __future__ import annotations

from mibench.evaluator import EvalContext, Evaluator, Metric
from mibench.tensors import nearest_same_class


class KNNDistance(Evaluator):
    name = "knn"
    version = "1"
    paper = "Chen et al., Knowledge-Enriched Distributional MI (KED-MI), ICCV 2021; PLG-MI, AAAI 2023"
    code = "https://github.com/LetheSec/PLG-MI-Attack"
    metrics = (Metric("knn_dist", False, "mean squared L2 distance to the nearest private image of the class, "
                                         "in the judge's penultimate features"),)

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        dist, _ = nearest_same_class(ctx.features, ctx.recon.labels, ctx.private_features, ctx.private_train.labels)
        return {"knn_dist": dist.mean().item()}
