"""Named external files: weights that a run loads instead of training (one entry each).

An :class:`Asset` names a file (``filename``), pins its SHA-256, says what it is and how to get it.
:func:`locate` looks for it, in order, in

1. the folders passed by the caller (``--assets-dir`` on the command line),
2. the folder in ``$MIBENCH_ASSETS``,
3. the weights shipped inside the package (``mibench/weights/``),
4. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, where torch keeps downloaded weights),

and returns the first file of that name whose SHA-256 matches. A missing file is an error that
lists where it was looked for and says how to obtain it (:class:`~mibench.errors.MissingAssetError`);
a file with the wrong checksum is an error naming both checksums (never silently used, never
skipped). The checksum is part of every cache key that depends on the file, so replacing a file can
never reuse results computed with the old one (:func:`find` returns the found file's full SHA-256).

A pin is the file's full SHA-256 (64 hex digits) or, only for files distributed under torch hub's
naming convention ``<name>-<hash prefix>.<ext>`` (``alexnet-owt-7be5be79.pth``), that prefix of at
least 8 hex digits, as the name carries it: the file matches when its SHA-256 starts with the
prefix. This is the check ``torch.hub.load_state_dict_from_url(..., check_hash=True)`` makes
(torch.hub's ``HASH_REGEX``), for third-party files whose full checksum is not published. An
:class:`Asset` whose short pin is not the hash in its file name is refused when it is declared.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from .errors import AssetError, MissingAssetError

PACKAGED = Path(__file__).parent / "weights"
HUB_HASH = re.compile(r"-([a-f0-9]{8,})\.")
"""The hash in a torch hub file name: torch.hub's ``HASH_REGEX``, with at least the 8 hex digits those names carry."""


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str
    description: str
    obtain: str
    """The sentence printed when the file is missing: how to get or rebuild it."""
    superseded: tuple[tuple[str, str], ...] = ()
    """Earlier files of this asset, as (full SHA-256, what it is): one found where this asset is expected is
    named in the error (a judge of the wrong version), never used."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.sha256):
            raise ValueError(f"asset {self.name!r}: sha256 must be the file's SHA-256 (64 lowercase hex digits) or a "
                             f"prefix of at least 8 taken from a torch hub file name; got {self.sha256!r}")
        if self.is_prefix_pin:
            in_name = HUB_HASH.search(self.filename)
            if in_name is None or in_name.group(1) != self.sha256:
                raise ValueError(f"asset {self.name!r}: a SHA-256 prefix ({self.sha256}) may pin only a file named "
                                 f"<name>-{self.sha256}.<ext> (torch hub's convention), not {self.filename!r}; "
                                 f"give the full SHA-256")

    @property
    def is_prefix_pin(self) -> bool:
        """True when :attr:`sha256` is the hash prefix of a torch hub file name, not the full digest."""
        return len(self.sha256) < 64

    def matches(self, digest: str) -> bool:
        """Whether a file with SHA-256 ``digest`` is this asset."""
        return digest.startswith(self.sha256) if self.is_prefix_pin else digest == self.sha256

    def identify(self, digest: str) -> str:
        """``", <what it is>"`` when ``digest`` is one of the :attr:`superseded` files, else empty."""
        return "".join(f", {what}" for sha, what in self.superseded if sha == digest)

    @property
    def expected(self) -> str:
        """The pin, as error messages state it."""
        return (f"SHA-256 prefix {self.sha256} (the hash in its name, torch hub's convention)"
                if self.is_prefix_pin else f"SHA-256 {self.sha256}")


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


def _wrong(asset: Asset, found: list[str]) -> AssetError:
    return AssetError(f"{asset.description} ({asset.name}): {', '.join(found)} does not have the expected "
                      f"{asset.expected}. Replace it with the right file. {asset.obtain}")


def verify(asset: Asset, path: Path | str) -> str:
    """The full SHA-256 of ``path``, a file given explicitly for ``asset``; an error when it is not the pinned file."""
    path = Path(path).expanduser()
    found = sha256_file(path)
    if not asset.matches(found):
        raise _wrong(asset, [f"{path} (SHA-256 {found}{asset.identify(found)})"])
    return found


def find(asset: Asset, folders: Iterable[Path | str] = ()) -> tuple[Path, str]:
    """The verified path of ``asset`` and its full SHA-256 (see the module docstring for the search order)."""
    searched = search_folders(folders)
    mismatched = []
    for folder in searched:
        path = folder / asset.filename
        if path.is_file():
            found = sha256_file(path)
            if asset.matches(found):
                return path, found
            mismatched.append(f"{path} (SHA-256 {found}{asset.identify(found)})")
    if mismatched:
        raise _wrong(asset, mismatched)
    raise MissingAssetError(f"{asset.description} ({asset.name}) not found: put {asset.filename} in one of "
                            f"{', '.join(str(f) for f in searched)} (or pass --assets-dir DIR, or set "
                            f"$MIBENCH_ASSETS). {asset.obtain}")


def locate(asset: Asset, folders: Iterable[Path | str] = ()) -> Path:
    """The verified path of ``asset`` (see the module docstring for the search order)."""
    return find(asset, folders)[0]


def load_state_dict(asset: Asset, folders: Iterable[Path | str] = ()) -> dict[str, torch.Tensor]:
    """The verified file's state dict, loaded with ``weights_only=True``."""
    return torch.load(locate(asset, folders), map_location="cpu", weights_only=True)


def shipped_targets(manifest: str, obtain: str, folder: Path = PACKAGED) -> dict[str, Asset]:
    """The targets a suite ships (``mibench target export`` writes them with ``manifest``, a JSON file
    in ``folder``, the package's ``mibench/weights/``): the content key of the target each file holds
    -> its :class:`Asset`. No manifest, no shipped targets: every target trains from its recipe."""
    path = Path(folder) / manifest
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())["targets"]
    return {e["key"]: Asset(name=Path(e["file"]).stem, filename=e["file"], sha256=e["sha256"],
                            description=f"the shipped {e['defense']} target ({e['file']}, {manifest})", obtain=obtain)
            for e in entries}
