"""Content-addressed artifact cache (trained targets, the evaluator, GANs, features).

An artifact is keyed by the SHA-256 of a canonical JSON of everything that determines it
(component name and version, config, suite, seed, data fingerprint). It is stored as
``<root>/<kind>/<key>.pt`` (a ``torch.save`` of plain tensors and numbers, loaded with
``weights_only=True``) plus ``<key>.json``, which holds the key's inputs and the payload's SHA-256.
Both are written atomically (temporary file + rename), payload first, so a crash leaves either
nothing or a complete entry. A payload whose checksum no longer matches is reported, deleted and
rebuilt. A build holds a file lock on its key (``locks/<kind>-<key>.lock``): a second process that
needs the same artifact meanwhile (two seeds of one attack in a sweep) waits and reads it instead of
building it again; the operating system releases the lock of a process that dies. The root is
``$MIBENCH_CACHE`` or ``~/.cache/mibench``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from filelock import FileLock

from .errors import CacheError

log = logging.getLogger(__name__)


def default_root() -> Path:
    return Path(os.environ.get("MIBENCH_CACHE") or Path.home() / ".cache" / "mibench").expanduser()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_key(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def staged_file(path: Path, data: bytes) -> Path:
    """``data`` in a temporary file beside ``path`` (flushed to disk), to be renamed onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    tmp = staged_file(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def ensure_writable(folder: Path, what: str) -> None:
    """Fail early, with the folder's name, if ``folder`` could not be created or written.

    Nothing is created: a run that fails before it has results leaves no empty folders behind.
    """
    probe = Path(folder).expanduser().absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"{probe} is not writable"
    if problem:
        raise CacheError(f"the {what} {folder} cannot be created or written ({problem}); "
                         f"choose another with the option or environment variable shown in `mibench run --help`")


class Cache:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_root()
        self.hits: list[str] = []
        self.builds: list[str] = []

    def paths(self, kind: str, key: str) -> tuple[Path, Path]:
        folder = self.root / kind
        return folder / f"{key}.pt", folder / f"{key}.json"

    def load(self, kind: str, key: str) -> dict | None:
        """The stored payload, or None when absent; a corrupted entry is deleted and None returned."""
        payload_path, meta_path = self.paths(kind, key)
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            data = payload_path.read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ValueError("checksum mismatch")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except (OSError, ValueError, KeyError, RuntimeError, EOFError, json.JSONDecodeError) as exc:
            log.warning("cache entry %s/%s is corrupted (%s); deleting and rebuilding it", kind, key[:12], exc)
            payload_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return None

    def store(self, kind: str, key: str, config: dict, payload: dict) -> None:
        payload_path, meta_path = self.paths(kind, key)
        buf = io.BytesIO()
        torch.save(payload, buf)
        data = buf.getvalue()
        atomic_write_bytes(payload_path, data)
        atomic_write_text(meta_path, json.dumps({"kind": kind, "key": key, "config": config,
                                                 "sha256": hashlib.sha256(data).hexdigest()}, indent=1, default=str))

    def get_or_build(self, kind: str, config: dict, build: Callable[[], dict],
                     accept: Callable[[dict], bool] | None = None) -> dict:
        """Return the artifact determined by ``config``, building and storing it if needed; one
        process builds a key at a time, the others wait for its result. A stored payload that
        ``accept`` refuses is built again and replaced (a shipped target where a retrain is asked)."""
        key = content_key(config)

        def usable(found: dict | None) -> dict | None:
            return found if found is None or accept is None or accept(found) else None

        payload = usable(self.load(kind, key))
        if payload is None:
            lock_path = self.root / "locks" / f"{kind}-{key}.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(lock_path)):
                payload = usable(self.load(kind, key))  # built by another process while this one waited
                if payload is None:
                    payload = build()
                    self.store(kind, key, config, payload)
                    self.builds.append(kind)
                    return payload
        self.hits.append(kind)
        log.info("cache hit: %s %s", kind, key[:12])
        return payload
