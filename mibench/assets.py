"""Named external files: weights that a run loads instead of training (one entry each).

An :class:`Asset` names a file (``filename``), pins its SHA-256, says what it is and how to get it.
:func:`locate` looks for it, in order, in

1. the folders passed by the caller (``--assets-dir`` on the command line),
2. the folder in ``$MIBENCH_ASSETS``,
3. the weights shipped inside the package (``mibench/weights/``),
4. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, where torch keeps downloaded weights),

and returns the first file of that name whose SHA-256 matches. A missing file is an error that
lists where it was looked for and says how to obtain it; a file with the wrong checksum is an
error naming both checksums (never silently used). The checksum is part of every cache key that
depends on the file, so replacing a file can never reuse results computed with the old one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from .errors import AssetError

PACKAGED = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str
    description: str
    obtain: str
    """The sentence printed when the file is missing: how to get or rebuild it."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def search_folders(extra: Iterable[Path | str] = ()) -> list[Path]:
    """The folders :func:`locate` searches, in order."""
    folders = [Path(p).expanduser() for p in extra]
    if os.environ.get("MIBENCH_ASSETS"):
        folders.append(Path(os.environ["MIBENCH_ASSETS"]).expanduser())
    folders.append(PACKAGED)
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    return folders


def locate(asset: Asset, folders: Iterable[Path | str] = ()) -> Path:
    """The verified path of ``asset`` (see the module docstring for the search order)."""
    searched = search_folders(folders)
    mismatched = []
    for folder in searched:
        path = folder / asset.filename
        if path.is_file():
            found = sha256_file(path)
            if found == asset.sha256:
                return path
            mismatched.append(f"{path} (SHA-256 {found})")
    if mismatched:
        raise AssetError(f"{asset.description} ({asset.name}): {', '.join(mismatched)} does not have the expected "
                         f"SHA-256 {asset.sha256}. Replace it with the right file. {asset.obtain}")
    raise AssetError(f"{asset.description} ({asset.name}) not found: put {asset.filename} in one of "
                     f"{', '.join(str(f) for f in searched)} (or pass --assets-dir DIR, or set $MIBENCH_ASSETS). "
                     f"{asset.obtain}")


def load_state_dict(asset: Asset, folders: Iterable[Path | str] = ()) -> dict[str, torch.Tensor]:
    """The verified file's state dict, loaded with ``weights_only=True``."""
    return torch.load(locate(asset, folders), map_location="cpu", weights_only=True)
