"""LPIPS distance (Zhang et al., The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric, CVPR 2018; docs/protocol.md, the celeba64 suite).

For each reconstruction x^ of class c: the smallest LPIPS distance between x^ and a private_train
image of class c; reported: the mean over all reconstructions. Lower = closer to private data.

LPIPS v0.1 with the AlexNet trunk, from the ``lpips`` package: per layer l of five, unit-normalised
(over channels) activations, squared differences weighted by the learned linear layer ``lin_l``
and averaged over positions; summed over layers. The linear calibration layers ship inside the
package (``lpips/weights/v0.1/alex.pth``); the trunk is torchvision's AlexNet with its ImageNet
weights (``alexnet-owt-7be5be79.pth``, an asset pinned by its SHA-256), loaded from a local file
instead of torchvision's download. Inputs: [0, 1] images scaled to [-1, 1], 1-channel images
repeated to 3, compared at the private images' resolution (reconstructions of another size are
resized to it) and at least 32 x 32 (AlexNet's fifth layer needs 31 pixels; smaller images are
upsampled, bilinear). Each image goes through the trunk once; the distances of all (reconstruction,
private image) pairs of a class are then taken from the activations, in chunks, exactly as
``lpips.LPIPS.forward`` takes them for one pair.

Without the AlexNet weights file the metric is NaN and the record's ``evaluator_notes`` say which
file is missing and where to put it; a file with the wrong checksum is an error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from mibench.assets import Asset
from mibench.evaluator import EvalContext, Evaluator, Metric
from mibench.stages import load_checked
from mibench.tensors import as_float

WEIGHTS_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ASSET = Asset(
    name="alexnet-imagenet", filename="alexnet-owt-7be5be79.pth",
    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    description="torchvision's AlexNet ImageNet weights (the LPIPS trunk)",
    obtain=f"Download {WEIGHTS_URL} on a machine with internet (torchvision keeps it in "
           f"$TORCH_HOME/hub/checkpoints/ once alexnet(weights='IMAGENET1K_V1') has run) and copy it there.")
"""244,408,911 bytes; the ``7be5be79`` in its name is its SHA-256 prefix (torch hub's convention)."""
MIN_SIZE = 32
CHUNK = 1 << 24
"""Most elements of one chunk of squared activation differences (64 MiB in float32)."""


def lpips_alex(weights: Path, device: torch.device):
    """``lpips.LPIPS`` (v0.1, AlexNet) with its packaged linear layers and the trunk from ``weights``
    (torchvision's ``alexnet().state_dict()``; ``features.<i>.*`` go to the slice that holds layer i)."""
    import lpips

    with warnings.catch_warnings():  # lpips asks torchvision for alexnet(pretrained=False): deprecated, harmless
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    trunk = model.net
    where = {name.split(".", 1)[1]: name for name in trunk.state_dict()}  # "3.weight" -> "slice2.3.weight"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    load_checked(trunk, {where.get(k, f"features.{k}"): v for k, v in features.items()}, weights.name)
    return model.to(device).eval()


def prepare(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[0, 1] images -> LPIPS's input: 3 channels, ``size``, in [-1, 1]."""
    images = as_float(images)
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if tuple(images.shape[-2:]) != tuple(size):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    return images * 2 - 1


@torch.no_grad()
def activations(model, images: torch.Tensor) -> list[torch.Tensor]:
    """The unit-normalised activations of LPIPS's layers (``lpips.LPIPS.forward``, one side)."""
    import lpips

    return [lpips.normalize_tensor(out) for out in model.net(model.scaling_layer(images))]


@torch.no_grad()
def pairwise(model, a: list[torch.Tensor], b: list[torch.Tensor], chunk: int | None = None) -> torch.Tensor:
    """LPIPS distance of every pair (row of ``a``, row of ``b``), from their :func:`activations`:
    (len a, len b), computed a few rows at a time (at most ``chunk`` elements, default :data:`CHUNK`)."""
    n, m = len(a[0]), len(b[0])
    per_row = m * max(x[0].numel() for x in a)
    step = max(1, (chunk or CHUNK) // per_row)
    out = torch.empty(n, m, device=a[0].device)
    for i in range(0, n, step):
        rows = min(step, n - i)
        total = torch.zeros(rows, m, device=a[0].device)
        for lin, fa, fb in zip(model.lins, a, b):
            diff = (fa[i:i + rows, None] - fb[None]).pow_(2).flatten(0, 1)
            total += lin(diff).mean((2, 3)).view(rows, m)  # lpips.spatial_average of lin_l's output
        out[i:i + rows] = total
    return out


def nearest_lpips(model, recon: torch.Tensor, labels: torch.Tensor, private: torch.Tensor,
                  private_labels: torch.Tensor, device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """Per reconstruction: the smallest LPIPS distance to a private image of its class (CPU)."""
    size = tuple(private.shape[-2:])
    size = (max(size[0], MIN_SIZE), max(size[1], MIN_SIZE))

    def acts(images: torch.Tensor) -> list[torch.Tensor]:
        chunks = [activations(model, prepare(images[i:i + batch_size].to(device), size))
                  for i in range(0, len(images), batch_size)]
        return [torch.cat(layer) for layer in zip(*chunks)]

    best = torch.full((len(labels),), float("inf"))
    for c in labels.unique().tolist():  # all pairs of one class at once (chunked in pairwise)
        rows, bank = (labels == c).nonzero().flatten(), (private_labels == c).nonzero().flatten()
        if len(bank) == 0:
            raise ValueError(f"LPIPS: class {c} has no private_train image to compare with")
        best[rows] = pairwise(model, acts(recon[rows]), acts(private[bank])).min(1).values.cpu()
    return best


class LPIPSDistance(Evaluator):
    name = "lpips"
    version = "1"
    paper = "Zhang et al., The Unreasonable Effectiveness of Deep Features as a Perceptual Metric (LPIPS), CVPR 2018"
    code = "https://github.com/richzhang/PerceptualSimilarity"
    metrics = (Metric("lpips", False, "mean LPIPS (v0.1, AlexNet) distance to the nearest private image of the "
                                      "class; NaN without the AlexNet weights file (see evaluator_notes)"),)

    network = staticmethod(lpips_alex)
    """``(weights path, device) -> lpips.LPIPS``; a test replaces it."""

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        found = self.find_asset(ctx, ASSET)
        if found is None:
            return {"lpips": float("nan")}
        model = self.network(found[0], ctx.device)
        recon = ctx.recon
        dist = nearest_lpips(model, recon.images, recon.labels, ctx.private_train.images, ctx.private_train.labels,
                             ctx.device)
        return {"lpips": dist.mean().item()}
