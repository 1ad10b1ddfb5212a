"""The FID backbone: InceptionV3 pool3 (2048-d) with the standard FID weights, when found locally.

The field's FID uses pytorch-fid's InceptionV3 with the weights file
``pt_inception-2015-12-05-6726825d.pth`` (:data:`ASSET`, pinned by its SHA-256). Machines without
internet cannot download it, so it is looked for at ``$MIBENCH_FID_WEIGHTS`` (an explicit path to
that file) and otherwise where every asset is (:func:`mibench.assets.find`: ``--assets-dir``,
``$MIBENCH_ASSETS``, the packaged weights, the torch hub cache ``$TORCH_HOME/hub/checkpoints/``).
When it is nowhere, :func:`find_weights` returns None and the suite's declared extractor is used
instead. A file with the wrong checksum, wherever it was found, is an error, never a fallback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch

from mibench.assets import Asset, find, verify
from mibench.errors import DataSourceError, MissingAssetError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
BACKBONE = "inception-v3-pool3 (pt_inception-2015-12-05)"
ASSET = Asset(
    name="fid-inception", filename=WEIGHTS_NAME,
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    description="FID InceptionV3 weights (pytorch-fid)",
    obtain="Download https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
           + " on a machine with internet and copy it there, or point $MIBENCH_FID_WEIGHTS at it.")
"""95,628,359 bytes; the full SHA-256 as several public pins of this file state it (its prefix is
the ``6726825d`` in the name, which torch hub checks)."""


def find_weights(folders: Iterable[Path | str] = ()) -> tuple[Path, str] | None:
    """The verified weights file and its SHA-256, or None when it is nowhere (FID then falls back)."""
    env = os.environ.get("MIBENCH_FID_WEIGHTS")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DataSourceError(f"MIBENCH_FID_WEIGHTS={env} is not a file; point it at {WEIGHTS_NAME} or unset it")
        return path, verify(ASSET, path)
    try:
        return find(ASSET, folders)
    except MissingAssetError:  # fallback: no Inception weights, FID in the judge's features (the record says which)
        return None


def inception_pool3(weights: Path, device: torch.device):
    """pytorch-fid's InceptionV3 (pool3 block) with ``weights``; input in [0, 1], any size, 1 or 3 channels."""
    from pytorch_fid import inception as fid_inception

    net = fid_inception.InceptionV3.__new__(fid_inception.InceptionV3)
    torch.nn.Module.__init__(net)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    original = fid_inception.load_state_dict_from_url
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: state  # no download: the local file
    try:
        fid_inception.InceptionV3.__init__(net, [fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    finally:
        fid_inception.load_state_dict_from_url = original
    net = net.to(device).eval()

    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return net(x)[0].flatten(1)

    return features
