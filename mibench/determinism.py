"""The float environment of a run: what can be made deterministic across machines is pinned here.

Bit-for-bit results on one machine follow from fixed seeds. Across machines, three things change
float results: the number of threads (the order of parallel reductions), the CPU kernels that
PyTorch, oneDNN and MKL pick for the processor's instruction set, and the order of operations
inside those kernels. mibench therefore

- pins the instruction set the kernels may use to AVX2, the widest one that every x86-64 server
  of the last decade has (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, and MKL's conditional
  numerical reproducibility ``MKL_CBWR``); these are set when mibench is imported, before torch
  initialises its kernels, unless the user has set them;
- runs every stage with the suite's fixed thread count (``Suite.threads``; ``$MIBENCH_THREADS``
  overrides it, e.g. to prove that a board holds under another thread count);
- asks torch for deterministic algorithms.

What still differs (another CPU model's rounding inside the same kernels, a machine without AVX2)
is covered by tolerances derived from a measured spread (``mibench leaderboard tolerances``).
Every record stores this environment.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

FLOAT_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin_float_environment() -> None:
    """Set :data:`FLOAT_ENV` where the user has not: must run before torch is imported."""
    for key, value in FLOAT_ENV.items():
        os.environ.setdefault(key, value)


def thread_count(suite_threads: int) -> int:
    value = os.environ.get("MIBENCH_THREADS", "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else suite_threads


def configure(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def describe() -> dict[str, Any]:
    """The float environment in force, for the run record."""
    import torch

    return {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "env": {k: os.environ.get(k, "") for k in FLOAT_ENV}, "cpu": _cpu_model(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
