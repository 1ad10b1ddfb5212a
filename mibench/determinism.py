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
- asks torch for deterministic algorithms;
- pins numpy's and scipy's OpenBLAS (FID's float64 covariances and matrix square root) to its AVX2
  kernels (``OPENBLAS_CORETYPE=Haswell``) on an x86-64 CPU with AVX2: left to choose, it takes its
  AVX-512 kernels on a CPU that has them, and FID moved in its ninth digit between two such hosts;
- and pins OpenBLAS to one thread (``OPENBLAS_NUM_THREADS=1``): it otherwise takes one per core,
  except in a Ray sweep's workers, where Ray sets ``OMP_NUM_THREADS=1``, and a record made in a
  sweep had its FID rejudged one unit in the 15th digit apart in a plain process on two cores.

What still differs (another CPU model's rounding inside the same kernels, a machine without AVX2)
is covered by tolerances derived from a measured spread (``mibench leaderboard tolerances``).
Every record stores this environment.

The *precision* is the one speed switch (``--precision``): ``fp32`` (the default) is the above, with
TF32 off on a GPU; ``bf16`` trades bit-reproducibility for GPU speed: bf16 autocast around the
target's training and the attack (autocast keeps losses, softmax and normalisations in fp32, so the
method is unchanged; the judge and the metrics stay fp32), cuDNN autotuning, TF32 matmuls, and no
deterministic-algorithm requirement. Artifacts trained in bf16 are cached under keys of their own
(:func:`cache_scope`), so an fp32 run never reuses them.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16")
_precision = "fp32"
FLOAT_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
             "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}
X86_ONLY = ("OPENBLAS_CORETYPE",)
"""Pins that name x86 kernels: set only on an x86-64 CPU with AVX2 (elsewhere OpenBLAS chooses)."""


def _cpuinfo() -> str:
    """``/proc/cpuinfo`` (Linux), else empty."""
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def _x86_avx2() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and " avx2" in _cpuinfo()


def pin_float_environment() -> None:
    """Set :data:`FLOAT_ENV` where the user has not: must run before torch and numpy are imported."""
    x86 = _x86_avx2()
    for key, value in FLOAT_ENV.items():
        if x86 or key not in X86_ONLY:
            os.environ.setdefault(key, value)


def thread_count(suite_threads: int) -> int:
    value = os.environ.get("MIBENCH_THREADS", "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else suite_threads


def configure(threads: int, precision: str = "fp32") -> None:
    """Threads and precision of every stage that follows (see the module's docstring)."""
    import torch

    global _precision
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    _precision = precision
    fast = precision != "fp32"
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(not fast, warn_only=True)
    torch.backends.cudnn.benchmark = fast
    torch.backends.cuda.matmul.allow_tf32 = fast
    torch.backends.cudnn.allow_tf32 = fast


def precision() -> str:
    return _precision


def autocast(device) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when the precision is ``bf16``, else nothing.

    The context wraps whole stages (training loops with their optimiser steps), so autocast's cache
    of cast weights is off: with it on, a weight updated in place inside the region would keep
    serving its stale bf16 copy, and the model would stop learning after its first step."""
    import torch

    if _precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


def fp32(device) -> contextlib.AbstractContextManager:
    """A region kept in fp32 inside a bf16 stage, for arithmetic that bf16 would break (the
    cancellation in ``|a|^2 - 2 a.b + |b|^2``, a linear solve); cast its inputs with ``.float()``."""
    import torch

    return torch.autocast(torch.device(device).type, enabled=False)


def cache_scope() -> dict[str, str]:
    """What the precision adds to the key of a trained artifact: nothing in fp32 (the keys every
    earlier run used), the precision otherwise."""
    return {} if _precision == "fp32" else {"precision": _precision}


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what :mod:`platform` knows."""
    lines = _cpuinfo().splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def describe() -> dict[str, Any]:
    """The float environment in force, for the run record."""
    import torch

    return {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "env": {k: os.environ.get(k, "") for k in FLOAT_ENV}, "cpu": _cpu_model(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(), "precision": _precision,
            **({"cudnn_benchmark": True} if torch.backends.cudnn.benchmark else {})}
