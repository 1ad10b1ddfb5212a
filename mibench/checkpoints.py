"""Importing the field's published classifier checkpoints (``--weights target=FILE``, ``evaluator=FILE``).

The files are loaded as they are distributed:

- KED-MI / PLG-MI releases (``VGG16_88.26.tar``, ``IR152_91.16.tar``, ``FaceNet64_88.50.tar``,
  ``FaceNet_95.88.tar``): ``{"state_dict": ...}`` saved from ``nn.DataParallel``, so every key
  starts with ``module.``;
- MIBench's files (``celeba64_ir152_93.71.pth``, ``celeba112_facenet112_97.72.pth``):
  ``{"state_dict": ..., "config": {...}}``;
- a bare state dict, or one under ``model`` / ``model_state_dict`` / ``net``.

:func:`read_state_dict` unwraps those layers and the ``module.`` prefix; :func:`to_classifier_keys`
renames the published names to mibench's :class:`~mibench.models.Classifier` (the head
``fc_layer.*`` becomes ``head.*``, everything else goes under ``backbone.``; the backbones of
:mod:`mibench.models.irse` and :mod:`mibench.models.vgg` keep the published names below that), and
:func:`load_into` loads strictly: a missing or unexpected key or a wrong shape is an error listing
them. Files are read with ``torch.load(weights_only=True)``; a file that needs unsafe unpickling is
refused, never loaded another way. Each file's SHA-256 goes into the run record and into every
cache key that depends on it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from .assets import sha256_file
from .errors import CheckpointError

WRAPPERS = ("state_dict", "model_state_dict", "model", "net")
"""Keys under which distributed files nest the state dict, tried in this order."""
HEAD_PREFIX = "fc_layer."


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The file's state dict, unwrapped, and the file's SHA-256."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: pass the path of the file as distributed "
                              f"(e.g. --weights target=/data/checkpoints/IR152_91.16.tar)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: torch.load(weights_only=True) refused it ({str(exc).splitlines()[0]}). mibench never loads "
            f"checkpoints with unsafe unpickling. If you trust the file, re-save its tensors in a trusted Python: "
            f"torch.save({{'state_dict': torch.load(PATH, weights_only=False)['state_dict']}}, NEW_PATH)") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({exc}); replace it with the file as "
                              f"distributed") from None
    seen = []
    while not _is_state_dict(obj):
        inner = next((k for k in WRAPPERS if isinstance(obj, dict) and k in obj), None)
        if inner is None:
            found = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
            raise CheckpointError(f"{path}: no state dict found (after unwrapping {seen or 'nothing'}: {found}); "
                                  f"expected tensors, or a dict with one of {', '.join(WRAPPERS)}")
        seen.append(inner)
        obj = obj[inner]
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj, sha256_file(path)


def to_classifier_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Published names -> mibench's Classifier names (``fc_layer.`` -> ``head.``, the rest under ``backbone.``)."""
    return {("head." + k[len(HEAD_PREFIX):] if k.startswith(HEAD_PREFIX) else "backbone." + k): v
            for k, v in state.items()}


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Strict ``load_state_dict``; returns notes. BatchNorm's ``num_batches_tracked`` counters, absent
    from files saved before PyTorch 0.4.1, are set to 0 (they do not change the outputs)."""
    own = model.state_dict()
    notes = []
    absent_counters = [k for k in own.keys() - state.keys() if k.endswith("num_batches_tracked")]
    if absent_counters:
        state = {**state, **{k: torch.zeros_like(own[k]) for k in absent_counters}}
        notes.append(f"{source}: {len(absent_counters)} BatchNorm num_batches_tracked counters absent, set to 0")
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    shapes = sorted(f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
                    for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        def few(keys: list[str]) -> str:
            return f"{len(keys)}" + (f" ({', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''})" if keys else "")
        raise CheckpointError(f"{source} does not fit {type(model).__name__}"
                              f"{' [' + model.backbone.name + ']' if hasattr(model, 'backbone') else ''}: "
                              f"missing keys {few(missing)}, unexpected keys {few(unexpected)}, wrong shapes "
                              f"{few(shapes)}. Is it a checkpoint of another architecture or class count?")
    model.load_state_dict(state)
    return notes


def import_classifier(model: nn.Module, path: str | Path) -> tuple[str, list[str]]:
    """Load a published classifier file into ``model`` (a Classifier); returns its SHA-256 and notes."""
    state, sha = read_state_dict(path)
    notes = load_into(model, to_classifier_keys(state), str(path))
    return sha, notes
