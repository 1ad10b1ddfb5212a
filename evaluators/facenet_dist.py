"""FaceNet distance (PPA: Struppek et al., Plug & Play Attacks, ICML 2022; docs/protocol.md,
the celeba64 suite: a face metric of high-resolution suites).

For each reconstruction x^ of class c: the **squared** L2 distance between its FaceNet embedding
and the embedding of the nearest private_train image of class c; reported: the mean over all
reconstructions. Lower = closer to private data. Squared, as PPA computes it
(``metrics/distance_metrics.py``: ``torch.cdist(..., p=2) ** 2``, then the minimum per image and the
mean); the embeddings are L2-normalised, so the distance lies in [0, 4].

FaceNet: facenet-pytorch's ``InceptionResnetV1`` with its VGGFace2 weights
(``20180402-114759-vggface2.pt``, an asset pinned by its SHA-256), independent of both the target
and the suite's judge. Inputs: images in [0, 1] of any size, 1 (repeated) or 3 channels, resized
to 160 x 160 (bilinear) and standardised as facenet-pytorch's ``fixed_image_standardization``,
``(255 x - 127.5) / 128``. (PPA feeds images normalised to [-1, 1], i.e. divides by 127.5; the
difference is a 0.4 % scale of the input.)

Without the weights file the metric is NaN and the record's ``evaluator_notes`` say which file is
missing and where to put it; a file with the wrong checksum is an error. The embeddings of the
private images of the attacked classes are cached per suite, keyed by the weights' SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from mibench.assets import Asset
from mibench.evaluator import EvalContext, Evaluator, Metric
from mibench.stages import load_checked
from mibench.tensors import batched, nearest_same_class

WEIGHTS_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
ASSET = Asset(
    name="facenet-vggface2", filename="20180402-114759-vggface2.pt",
    sha256="281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
    description="FaceNet (InceptionResnetV1) VGGFace2 weights of facenet-pytorch",
    obtain=f"Download {WEIGHTS_URL} on a machine with internet (facenet-pytorch keeps it in "
           f"$TORCH_HOME/checkpoints/ once InceptionResnetV1(pretrained='vggface2') has run) and copy it there.")
"""111,898,327 bytes; the full SHA-256 as several public pins of this file state it. The file holds
the embedding network and ``logits.*`` (VGGFace2's 8631-class head, which facenet-pytorch 2.5.3
builds and loads but does not use without ``classify=True``); the head is dropped when loading."""
SIZE = 160


def facenet_cache() -> Path:
    """Where facenet-pytorch downloads its weights (``$TORCH_HOME/checkpoints``, not torch hub's folder)."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(home).expanduser() / "checkpoints"


def standardize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (N, 1 or 3, H, W) -> FaceNet's input: 3 x 160 x 160, ``(255 x - 127.5) / 128``."""
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if images.shape[-2:] != (SIZE, SIZE):
        images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    return (images * 255 - 127.5) / 128


def facenet(weights: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """[0, 1] images -> L2-normalised 512-d FaceNet embeddings, with the weights in ``weights``."""
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1()  # no `pretrained`: nothing is downloaded; the asset's file is loaded below
    state = {k: v for k, v in torch.load(weights, map_location="cpu", weights_only=True).items()
             if not k.startswith("logits.")}  # the classifier head: facenet-pytorch loads it only to ignore it
    for key, value in net.state_dict().items():  # batch-norm step counters: unused in eval, absent from old files
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, value)
    load_checked(net, state, weights.name)
    net = net.to(device).eval()

    @torch.no_grad()
    def embed(images: torch.Tensor) -> torch.Tensor:
        return net(standardize(images))

    return embed


class FaceNetDistance(Evaluator):
    name = "facenet_dist"
    version = "1"
    paper = "Struppek et al., Plug & Play Attacks (PPA), ICML 2022; FaceNet: Schroff et al., CVPR 2015"
    code = "https://github.com/LukasStruppek/Plug-and-Play-Attacks"
    metrics = (Metric("facenet_dist", False, "mean squared L2 distance to the nearest private image of the class, "
                                             "in FaceNet (InceptionResnetV1, VGGFace2) embeddings; NaN without "
                                             "the weights file (see evaluator_notes)"),)

    embedder = staticmethod(facenet)
    """``(weights path, device) -> (images -> embeddings)``; a test replaces it."""

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        found = self.find_asset(ctx, ASSET, facenet_cache())
        if found is None:
            return {"facenet_dist": float("nan")}
        path, sha256 = found
        embed = self.embedder(path, ctx.device)
        recon = ctx.recon
        classes = recon.labels.unique()
        in_classes = torch.isin(ctx.private_train.labels, classes)

        def build() -> dict:
            return {"embeddings": batched(embed, ctx.private_train.images[in_classes], ctx.device, 64),
                    "labels": ctx.private_train.labels[in_classes]}

        private = ctx.artifact("facenet-embeddings", {"weights": sha256, "classes": classes.tolist(),
                                                      "facenet_version": self.version}, build)
        dist, _ = nearest_same_class(batched(embed, recon.images, ctx.device, 64), recon.labels,
                                     private["embeddings"], private["labels"])
        return {"facenet_dist": dist.mean().item()}
