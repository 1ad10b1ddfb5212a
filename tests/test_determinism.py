"""The float environment: pinned kernels, a fixed thread count, and what the record says about it."""

import os
import subprocess
import sys

from mibench import determinism


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


def test_the_record_describes_the_float_environment():
    determinism.configure(1)
    env = determinism.describe()
    assert env["threads"] == 1 and env["deterministic_algorithms"] is True
    assert set(env["env"]) == set(determinism.FLOAT_ENV) and env["cpu"]
