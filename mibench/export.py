"""``mibench evaluator export`` and ``mibench target export``: weights a suite ships, trained by this code.

``export_judge`` trains a suite's judge from its recipe and writes its weights file;
``export_targets`` writes the profile's default target of each defense (:func:`export_targets`).

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

import dataclasses
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
from .components import resolve_params
from .registries import DEFENSES
from .stages import evaluator_config, target_config, train_evaluator, train_target
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


def target_filename(suite_name: str, defense: str) -> str:
    return f"{suite_name}-target-{defense}.pt"


def manifest_filename(suite_name: str) -> str:
    return f"{suite_name}-targets.json"


MANIFEST_DOC = ("The targets this suite ships (mibench/weights/): `mibench target export` trained each from the "
                "profile's recipe, at the defense's default parameters, and wrote its payload (weights, natural "
                "accuracies, the defense's notes). A run whose target has `key` (the content key of everything that "
                "determines it) loads the file, checked against `sha256`, instead of training; `--retrain-targets` "
                "and `leaderboard check` train it.")


def export_targets(suite_name: str, defenses: list[str], out: Path, *, profile: str = "full", device: str = "auto",
                   cache_root: Path | None = None, data_root: Path | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Train (or find in the cache, trained from the recipe) the ``profile``'s default target of each
    defense and write it as ``<suite>-target-<defense>.pt``, with ``<suite>-targets.json`` listing each
    file's key and SHA-256 (what the suite reads as ``target_assets``). An existing manifest keeps its
    entries for other defenses."""
    suite = SUITES.get(suite_name)(data_root)
    determinism.configure(determinism.thread_count(suite.threads))
    cache, dev = Cache(cache_root), resolve_device(device)
    data = suite.load(cache)
    prof = suite.profile(profile)
    out = Path(out)
    manifest = out / manifest_filename(suite.name)
    kept = json.loads(manifest.read_text())["targets"] if manifest.is_file() else []
    entries = []
    for name in defenses:
        cls = DEFENSES.get(name)
        params = dataclasses.asdict(resolve_params(cls.Params, suite.component_params("defenses", cls, profile),
                                                   owner=f"defense {name!r}"))
        trained = train_target(suite, prof, cls(params), params, data, cache, dev, shipped=False)
        buf = io.BytesIO()
        torch.save(cache.load("targets", trained.key), buf)  # the cached payload, as training stored it
        path = out / target_filename(suite.name, name)
        atomic_write_bytes(path, buf.getvalue())
        entries.append({"defense": name, "profile": profile, "file": path.name, "sha256": sha256_file(path),
                        "key": trained.key, "params": params,
                        "config": {**target_config(suite, prof, cls(params), data), "params": params},
                        "natural_acc": trained.accuracy, **{k: v for k, v in trained.extra.items()},
                        "versions": versions(), "float_env": determinism.describe()})
    merged = [e for e in kept if e["defense"] not in defenses or e["profile"] != profile] + entries
    atomic_write_text(manifest, json.dumps({"_doc": MANIFEST_DOC, "targets": merged}, indent=2, default=str) + "\n")
    return manifest, entries
