"""Run records and the files a run leaves behind (docs/layout.md, data flow: RunRecord).

:class:`RunRecord` is the one typed record of a result (RobustBench keeps one JSON per entry): the
resolved spec, the components with the distribution and version that provided each, the profile
and its scaling notes, the float environment, versions, timings, cache use, the metrics and their
declarations. Leaderboards are generated from records only. ``from_json`` reads records written
by older versions (missing fields take their defaults).

A run's folder holds ``record.json``,
``reconstructions/`` (one PNG per image, named ``c<class>_s<seed>_<k>.png``), ``reconstructions.npz``
(the same images, 8-bit, as the board keeps them: :mod:`mibench.reconstructions`) and ``grid.png``
(per class, reconstructions beside their nearest private_train image in evaluator features). The
folder is assembled under a temporary name and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image

from . import __version__
from .attack import Reconstructions
from .cache import atomic_write_text
from .grid import draw_grid
from .reconstructions import FILE_NAME


@dataclasses.dataclass
class RunRecord:
    spec: dict[str, Any]
    config_hash: str
    metrics: dict[str, Any]
    natural_acc: float
    evaluator_acc: float  # the judge's accuracy on its own test set (all the classes it answers)
    evaluator_acc_private: float = float("nan")  # the judge's accuracy on private_test
    metric_specs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    primary_metric: str = "attack_acc_top1"
    strength: str = ""  # the defense's strength knob and its value ("beta=0.2"; empty without a ladder)
    variant: str = ""  # what else the run set away from the suite ("defense.inference=mean"; mibench.spec.variant)
    components: dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    target_arch: str = ""
    target_arch_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluator_arch: str = ""
    evaluator_weights: dict[str, str] = dataclasses.field(default_factory=dict)  # judge file and metrics' weights files -> SHA-256
    budget: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    attack_queries: int = 0
    attack_notes: dict[str, Any] = dataclasses.field(default_factory=dict)  # what the attack reports (Reconstructions.notes)
    evaluator_notes: dict[str, Any] = dataclasses.field(default_factory=dict)  # evaluator name -> what it reports (EvalContext.notes)
    per_class: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # metric -> class -> value (EvalContext.per_class)
    device: str = "cpu"
    float_env: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    cache: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_folder: str = ""
    reconstructions_sha256: str = ""  # of the stored reconstructions (mibench.reconstructions); empty in older records
    stage_sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # stage -> SHA-256 (mibench.stage_hashes); {} in older records
    rejudged: dict[str, Any] = dataclasses.field(default_factory=dict)  # where `leaderboard rejudge` recomputed the metrics

    @property
    def control(self) -> bool:
        return bool(self.spec.get("control", False))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        return cls.from_json(Path(path).read_text())


def quantize(images: torch.Tensor) -> torch.Tensor:
    """The [0, 1] images exactly as an 8-bit PNG stores them: metrics are computed on these."""
    return torch.round(images.clamp(0, 1) * 255) / 255


def git_commit() -> str:
    """Commit of the mibench checkout, with ``-dirty`` for local changes to the code; ``unknown``
    outside git. The boards (``leaderboards/``) do not count: runs write them as they go."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(exclude,top)leaderboards"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    return {"mibench": __version__, "git": git_commit(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
            "platform": platform.platform()}


def _to_png(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def write_grid(path: Path, record: RunRecord, recon: Reconstructions, nearest: torch.Tensor,
               success: torch.Tensor) -> Path:
    """The record's reconstruction grid (:mod:`mibench.grid`; ``nearest``: the nearest private image of
    each reconstruction, ``success``: the judge's top-1 verdict on it), titled with the row and seed."""
    spec = record.spec
    title = (f"{spec['defense']} x {spec['attack']}{' (control)' if record.control else ''} on {spec['suite']} "
             f"({spec['profile']}, seed {spec['seed']}): judge top-1 {float(success.float().mean()):.2f}")
    return draw_grid(recon.images, recon.labels, nearest, success, path, title)


def write_run_folder(folder: Path, record: RunRecord, recon: Reconstructions, nearest: torch.Tensor,
                     success: torch.Tensor, stored: bytes) -> None:
    """Write the run's folder atomically (an existing folder of the same run is replaced): the
    reconstructions as PNGs and as ``stored`` (their ``.npz``), ``grid.png`` (:func:`write_grid`)
    and ``record.json``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        images = staging / "reconstructions"
        images.mkdir()
        counters: dict[tuple[int, int], int] = {}
        for img, c, s in zip(recon.images, recon.labels.tolist(), recon.seed_index.tolist()):
            k = counters[(c, s)] = counters.get((c, s), -1) + 1
            _to_png(img).save(images / f"c{c}_s{s}_{k}.png")
        (staging / FILE_NAME).write_bytes(stored)
        write_grid(staging / "grid.png", record, recon, nearest, success)
        (staging / "record.json").write_text(record.to_json())
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_record(path: Path, record: RunRecord) -> None:
    atomic_write_text(path, record.to_json())
