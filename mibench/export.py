"""``mibench evaluator export``: train a suite's judge from its recipe and write its weights file.

The file is what a suite ships as its ``evaluator_asset`` (see :mod:`mibench.assets`): the judge is
trained once, by this code, and every machine and profile then judges with the same network. Beside
the weights, ``<stem>.json`` records what produced them: the training config (suite, data
fingerprint, architecture, recipe, trainer version), the accuracies, the SHA-256, the versions,
the float environment and, for a suite that defines ``judge_checks(model, data, device)``, what
those checks measured (the mnist suite: what the judge answers to images that show no digit).
``tests/test_assets.py`` checks that the shipped description still matches the suite's code, so
changing the judge's recipe without re-exporting fails the tests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from . import determinism
from .assets import sha256_file
from .cache import Cache, atomic_write_bytes, atomic_write_text
from .records import versions
from .registries import SUITES
from .runner import resolve_device
from .stages import evaluator_config, train_evaluator
from .tensors import cpu_state


def judge_filename(suite) -> str:
    return suite.evaluator_asset.filename if suite.evaluator_asset is not None else f"{suite.name}-judge.pt"


def export_judge(suite_name: str, out: Path, *, device: str = "auto", cache_root: Path | None = None,
                 data_root: Path | None = None) -> tuple[Path, dict[str, Any]]:
    suite = SUITES.get(suite_name)(data_root)
    determinism.configure(determinism.thread_count(suite.threads))
    cache = Cache(cache_root)
    data = suite.load(cache)
    judge = train_evaluator(suite, data, cache, resolve_device(device), shipped=False)
    buf = io.BytesIO()
    torch.save(cpu_state(judge.model), buf)
    path = Path(out) / judge_filename(suite)
    atomic_write_bytes(path, buf.getvalue())
    description = {"file": path.name, "sha256": sha256_file(path), "config": evaluator_config(suite, data),
                   "accuracy": judge.accuracy, "accuracy_private": judge.extra["accuracy_private"],
                   "versions": versions(), "float_env": determinism.describe()}
    checks = getattr(suite, "judge_checks", None)  # a suite's own checks of its judge (mnist: images with no digit)
    if checks is not None:
        description["checks"] = checks(judge.model, data, resolve_device(device))
    atomic_write_text(path.with_suffix(".json"), json.dumps(description, indent=2, default=str) + "\n")
    return path, description
