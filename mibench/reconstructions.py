"""A run's reconstructions as stored: 8-bit, compressed, one file per record, with its SHA-256.

The file is an ``.npz`` (read it with ``np.load``) holding ``images`` (uint8, N x C x H x W),
``labels`` and ``seed_index`` (int64, N). It is written like ``np.savez_compressed`` but with a
fixed timestamp in the zip, so the same reconstructions always give the same bytes and checksum.
Evaluators score exactly these images (``uint8 / 255``, :func:`mibench.records.quantize`), so
:mod:`mibench.rejudge` recomputes a record's metrics from the file alone.

A board keeps each record's file as ``reconstructions/<board>/<config_hash>-s<seed>.npz`` beside
``records/``; the record stores its checksum (``RunRecord.reconstructions_sha256``). A run folder
keeps the same file as ``reconstructions.npz``.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .attack import Reconstructions
from .errors import LeaderboardError

FILE_NAME = "reconstructions.npz"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: no clock in the bytes


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[0, 1] float images as the 8-bit values stored (the rounding :func:`mibench.records.quantize` uses)."""
    return torch.round(images.clamp(0, 1) * 255).to(torch.uint8).numpy()


def encode(recon: Reconstructions) -> bytes:
    """The ``.npz`` bytes of ``recon`` (images as uint8)."""
    arrays = {"images": to_uint8(recon.images), "labels": recon.labels.numpy().astype(np.int64),
              "seed_index": recon.seed_index.numpy().astype(np.int64)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def decode(data: bytes) -> Reconstructions:
    """The reconstructions in ``.npz`` bytes, images back in [0, 1] (``uint8 / 255``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        images = torch.from_numpy(arrays["images"].astype(np.float32)) / 255
        return Reconstructions(images, torch.from_numpy(arrays["labels"]), torch.from_numpy(arrays["seed_index"]))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def board_path(folder: Path, board: str, name: str) -> Path:
    """Where a board keeps the reconstructions of its record ``<name>.json`` (``<config_hash>-s<seed>``)."""
    return Path(folder) / "reconstructions" / board / f"{name}.npz"


def read_checked(path: Path, expected: str, rerun: Callable[[], str]) -> bytes:
    """The bytes of ``path``, checked against the record's SHA-256 ``expected`` (decode them with
    :func:`decode`); a missing file, a record without a checksum or a mismatch is a
    :class:`LeaderboardError` that names the file and the command (``rerun()``) that makes it again."""
    if not expected:
        raise LeaderboardError(f"the record of {path.stem} has no checksum of its reconstructions (it was written "
                               f"before mibench stored them): rerun the row with `{rerun()}`")
    if not path.is_file():
        raise LeaderboardError(f"the reconstructions {path} are missing: restore the file, or rerun the row with "
                               f"`{rerun()}`")
    data = path.read_bytes()
    found = sha256(data)
    if found != expected:
        raise LeaderboardError(f"the reconstructions {path} fail their checksum (SHA-256 {found[:16]}..., the record "
                               f"says {expected[:16]}...): restore the file, or rerun the row with `{rerun()}`")
    return data
