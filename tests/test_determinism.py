"""The float environment: pinned kernels, a fixed thread count, and what the record says about it."""

import os
import subprocess
import sys

import pytest

from mibench import determinism
from mibench.errors import ConfigError


def test_thread_count_is_the_suites_unless_overridden(monkeypatch):
    monkeypatch.delenv("MIBENCH_THREADS", raising=False)
    assert determinism.thread_count(2) == 2
    monkeypatch.setenv("MIBENCH_THREADS", "1")
    assert determinism.thread_count(2) == 1
    monkeypatch.setenv("MIBENCH_THREADS", "many")
    assert determinism.thread_count(2) == 2


def test_importing_mibench_pins_the_kernels_before_torch_but_respects_the_user():
    code = "import mibench, torch, os; print(torch.backends.cpu.get_cpu_capability(), os.environ['ONEDNN_MAX_CPU_ISA'])"
    env = {k: v for k, v in os.environ.items() if k not in determinism.FLOAT_ENV}
    pinned = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert pinned.stdout.split()[1] == "AVX2"
    user = subprocess.run([sys.executable, "-c", code], env={**env, "ATEN_CPU_CAPABILITY": "default"},
                          capture_output=True, text=True, check=True)
    assert user.stdout.split()[0] == "DEFAULT"


def test_openblas_is_pinned_to_its_avx2_kernels_on_x86_with_avx2_only(monkeypatch):
    """numpy's OpenBLAS computes FID's covariances and matrix square root; left to choose, it takes
    AVX-512 kernels where the CPU has them, and FID's ninth digit moved between hosts."""
    for key in determinism.FLOAT_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(determinism, "_cpuinfo", lambda: "flags\t\t: fpu sse2 avx avx2 fma")
    monkeypatch.setattr(determinism.platform, "machine", lambda: "x86_64")
    determinism.pin_float_environment()
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.setattr(determinism.platform, "machine", lambda: "aarch64")
    determinism.pin_float_environment()
    assert "OPENBLAS_CORETYPE" not in os.environ and os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_the_record_describes_the_float_environment():
    determinism.configure(1)
    env = determinism.describe()
    assert env["threads"] == 1 and env["deterministic_algorithms"] is True
    assert set(env["env"]) == set(determinism.FLOAT_ENV) and env["cpu"]


def test_bf16_turns_on_autocast_autotuning_and_keys_trained_artifacts_apart():
    import torch

    determinism.configure(1)
    assert determinism.cache_scope() == {} and not torch.backends.cudnn.benchmark
    with determinism.autocast("cpu"):
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.float32
    determinism.configure(1, "bf16")
    with determinism.autocast("cpu"):
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.bfloat16
        assert torch.nn.functional.cross_entropy(torch.ones(1, 2, dtype=torch.bfloat16), torch.zeros(1).long()).dtype \
            == torch.float32  # autocast keeps the loss in fp32: the method is unchanged
    env = determinism.describe()
    assert env["precision"] == "bf16" and env["cudnn_benchmark"] and not env["deterministic_algorithms"]
    assert determinism.cache_scope() == {"precision": "bf16"}
    determinism.configure(1)
    assert determinism.describe()["precision"] == "fp32" and torch.are_deterministic_algorithms_enabled()


def test_an_unknown_precision_lists_the_known_ones():
    with pytest.raises(ConfigError, match="fp32, bf16"):
        determinism.configure(1, "fp8")


def test_a_weight_updated_inside_the_bf16_region_is_seen_by_the_next_forward():
    """The region wraps whole training loops: a cached bf16 copy of a weight would go stale."""
    import torch

    layer = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    determinism.configure(1, "bf16")
    with determinism.autocast("cpu"):
        before = layer(torch.ones(1, 4))
        before.float().sum().backward()
        opt.step()
        after = layer(torch.ones(1, 4))
    determinism.configure(1)
    assert after.item() == pytest.approx(before.item() - 4.0, abs=0.05)  # w -= 1 * x, so w.x drops by |x|^2 = 4


def test_openblas_runs_one_thread_and_records_older_than_the_pin_are_compared_at_it():
    """OpenBLAS takes one thread per core in a plain process but one in a Ray sweep's workers
    (OMP_NUM_THREADS=1), and a sweep record's FID, rejudged in a plain process on two cores, moved
    in its 15th digit: importing mibench pins it, the record stores the pin, and a record that
    predates the pin is compared as if it had it."""
    from mibench.records import RunRecord
    from mibench.regression import environment_difference

    code = "import mibench, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k not in determinism.FLOAT_ENV}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
    determinism.configure(1)
    now = determinism.describe()
    assert now["env"]["OPENBLAS_NUM_THREADS"] == "1"
    def record(float_env):
        return RunRecord(spec={}, config_hash="c", metrics={}, natural_acc=0.9, evaluator_acc=0.9, float_env=float_env)

    fresh = record(now)
    older = record({**now, "env": {k: v for k, v in now["env"].items() if k != "OPENBLAS_NUM_THREADS"}})
    assert environment_difference(older, fresh) == ""
    other = record({**now, "env": {**now["env"], "OPENBLAS_NUM_THREADS": "2"}})
    assert "OPENBLAS_NUM_THREADS" in environment_difference(other, fresh)
