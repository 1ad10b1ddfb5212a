"""What each stage of a run produced, as SHA-256 checksums: what the exact check compares.

A record's ``stage_sha256`` maps each stage to the checksum of its output, in pipeline order:

- ``target``: the defended target's ``state_dict``;
- ``prior:<name>``: the state of each prior the attack loaded;
- ``artifact:<name>``: each target-dependent artifact the attack built (PLG-MI's conditional GAN);
- ``reconstructions``: the stored reconstructions' file (``RunRecord.reconstructions_sha256``);
- ``judge``: the suite's judge and its features of private_train;
- ``metrics``: the metric values.

Checksums are canonical (:func:`tree_sha256`): mappings by sorted key, each tensor as its dtype,
shape and bytes, each float as ``float.hex`` (exact, NaN included), so equal outputs give equal
checksums on any machine. :func:`first_difference` names the first stage whose checksum differs
between a record and its recomputation, and :func:`owner` the component that produced it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch

ORDER = ("target", "prior:", "artifact:", "reconstructions", "judge", "metrics")
"""Stage names (or prefixes) in the order the pipeline produces them."""


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"array:{a.dtype.str}:{a.shape}:".encode())
        h.update(a.tobytes())
    elif isinstance(obj, dict):
        h.update(f"dict:{len(obj)}:".encode())
        for key in sorted(obj, key=str):
            _feed(h, str(key))
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"list:{len(obj)}:".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update((json.dumps(_scalar(obj)) + ";").encode())


def _scalar(value: Any) -> Any:
    """A JSON-able, exact form of a leaf: floats as ``float.hex``."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, np.floating)):
        return {"float": float(value).hex()}
    if isinstance(value, np.integer):
        return int(value)
    return {type(value).__name__: str(value)}


def tree_sha256(obj: Any) -> str:
    """SHA-256 of a nested structure of mappings, sequences, tensors, arrays and scalars (canonical)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def module_sha256(module: torch.nn.Module) -> str:
    """SHA-256 of a module's ``state_dict`` (parameters and buffers, by sorted name)."""
    return tree_sha256(dict(module.state_dict()))


def _rank(stage: str) -> int:
    return next(i for i, name in enumerate(ORDER) if stage == name or (name.endswith(":") and stage.startswith(name)))


def ordered(stages: list[str]) -> list[str]:
    """``stages`` in pipeline order (priors and artifacts in the order given)."""
    return sorted(stages, key=_rank)


def first_difference(recorded: dict[str, str], recomputed: dict[str, str]) -> str | None:
    """The first stage, in pipeline order, whose checksum differs; None when they agree. Only the
    stages both sides produced are compared: an artifact built inside another one (PLG-MI's pseudo
    labels, inside its GAN) is not produced again when the outer one comes from the cache."""
    return next((s for s in ordered([s for s in recorded if s in recomputed]) if recorded[s] != recomputed[s]), None)


def owner(stage: str, components: dict[str, Any], evaluator_arch: str = "", metrics: list[str] = ()) -> str:
    """The component that produced ``stage``, as a record's ``components`` list it; for the
    ``metrics`` stage, the evaluators that declare the differing ``metrics`` (all when none is known)."""

    def named(c: dict[str, Any]) -> str:
        return f"{c.get('name', '?')} version {c.get('version', '?')}"

    if stage == "target":
        return f"defense {named(components.get('defense', {}))} (or the suite's data and training recipe)"
    if stage.startswith("prior:"):
        name = stage.split(":", 1)[1]
        found = [p for p in components.get("priors", []) if p.get("name") == name]
        return f"prior {named(found[0]) if found else name}"
    if stage.startswith("artifact:") or stage == "reconstructions":
        return f"attack {named(components.get('attack', {}))}"
    if stage == "judge":
        return f"the suite's judge ({evaluator_arch or '?'}: its weights or its training recipe)"
    listed = components.get("evaluators", [])
    declaring = [e for e in listed if set(metrics) & _declared(e.get("name", ""))] or listed
    differ = f" ({', '.join(metrics)} differ)" if metrics else ""
    return f"evaluator {', '.join(named(e) for e in declaring)}{differ}"


def _declared(evaluator: str) -> set[str]:
    """The metric names the installed evaluator ``evaluator`` declares (none if it is not installed)."""
    from .errors import MibenchError
    from .registries import EVALUATORS

    try:
        return {m.name for m in EVALUATORS.get(evaluator).metrics}
    except MibenchError:
        return set()
