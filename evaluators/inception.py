"""The FID backbone: InceptionV3 pool3 (2048-d) with the standard FID weights, when found locally.

The field's FID uses pytorch-fid's InceptionV3 with the weights file
``pt_inception-2015-12-05-6726825d.pth``. Machines without internet cannot download it, so it is
looked for, in order, at ``$MIBENCH_FID_WEIGHTS`` (a path to that file) and in the torch hub cache
(``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch/hub/checkpoints/``). When neither has
it, :func:`find_weights` returns None and the suite's declared extractor is used instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mibench.errors import DataSourceError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
BACKBONE = "inception-v3-pool3 (pt_inception-2015-12-05)"


def find_weights() -> Path | None:
    env = os.environ.get("MIBENCH_FID_WEIGHTS")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DataSourceError(f"MIBENCH_FID_WEIGHTS={env} is not a file; point it at {WEIGHTS_NAME} or unset it")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME
    return cached if cached.is_file() else None


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
