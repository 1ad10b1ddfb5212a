"""A component's snapshot: the SHA-256 of each of its outputs on the synthetic suite.

A checksum covers the exact bits: tensors by dtype, shape and bytes, floats by ``float.hex``,
dictionaries in the order of their sorted keys. Two runs agree on a checksum exactly when they
agree on every bit of that output.

Bits are reproducible only within one float environment (:mod:`mibench.determinism`), so a snapshot
carries the one it was taken in (:func:`float_environment`), and two snapshots are compared only when
:func:`environment_difference` finds none. What counts: the thread count, the CPU capability torch
dispatches to and the pins of the instruction set, the precision and the deterministic-kernel
switch, the machine's architecture, and the versions of torch, numpy and scipy. The CPU's model
does not: with the instruction set pinned to AVX2, every x86-64 CPU that has it runs the same
kernels (a board's records recomputed on another host matched to the last bit).
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from typing import Any

import numpy
import scipy
import torch

from .. import determinism

COMPARED = ("threads", "cpu_capability", "env", "precision", "deterministic_algorithms", "machine", "libraries")
"""The entries of :func:`float_environment` two snapshots must share to be compared bit for bit."""


def float_environment() -> dict[str, Any]:
    """The float environment in force: :func:`mibench.determinism.describe` plus the machine's
    architecture and the versions of the numerical libraries."""
    return {**determinism.describe(), "machine": platform.machine(),
            "libraries": {"torch": torch.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__}}


def environment_difference(recorded: dict[str, Any], current: dict[str, Any]) -> str:
    """The :data:`COMPARED` entries in which two float environments differ ("" when none), as
    ``name recorded -> current``."""
    return "; ".join(f"{k} {recorded.get(k)!r} -> {current.get(k)!r}" for k in COMPARED
                     if recorded.get(k) != current.get(k))


def digest(value: Any) -> str:
    """The SHA-256 of ``value`` (tensors, numbers, strings, None, and lists and dicts of them)."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.flatten().view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(f"dict {len(value)}\n".encode())
        for key in sorted(value, key=str):
            h.update(f"key {key!r}\n".encode())
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"list {len(value)}\n".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, float):
        h.update(f"float {value.hex()}\n".encode())
    elif value is None or isinstance(value, (bool, int, str)):
        h.update(f"{type(value).__name__} {value!r}\n".encode())
    else:
        raise TypeError(f"cannot checksum a {type(value).__name__}: outputs are tensors, numbers, strings, "
                        f"and lists and dicts of them")


@dataclass(frozen=True)
class Snapshot:
    """What one component produced on the synthetic suite at the fixed seed.

    ``outputs`` maps each output's name (``target_weights``, ``reconstructions``, a metric) to its
    SHA-256; ``params`` are the component's resolved parameters; ``float_env`` is the float
    environment the outputs were computed in. ``unavailable`` says why a component has no snapshot
    (its outputs are then empty)."""

    kind: str
    name: str
    version: str
    outputs: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    float_env: dict[str, Any] = field(default_factory=dict)
    unavailable: str = ""

    @property
    def key(self) -> str:
        """``kind/name``, e.g. ``defenses/bido``: the component's entry in a snapshot file."""
        return f"{self.kind}/{self.name}"
