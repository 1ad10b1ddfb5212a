"""`mibench bench`: every hot loop is timed and its FLOPs counted against a measured peak."""

from __future__ import annotations

import json

import pytest
import torch

from mibench.bench import count_flops, run_bench
from mibench.cli import main


def test_flops_of_a_matrix_multiply_are_counted_as_two_n_cubed():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_every_loop_reports_items_flops_and_a_ratio_to_peak(tmp_path):
    result = run_bench("tiny", torch.device("cpu"), "quick", seconds=0.0)
    loops = {r["loop"]: r for r in result["loops"]}
    assert set(loops) == {"target train step", "PLG-MI GAN step", "PLG-MI inversion step", "judge forward"}
    assert loops["PLG-MI inversion step"]["items_per_step"] == 3 * 2 * 2  # tiny quick: 3 classes x 2 images x 2 seeds
    for r in loops.values():
        assert r["flops_per_item"] > 0 and r["items_per_s"] > 0 and r["steps_timed"] >= 1
        assert r["ratio_to_peak"] == pytest.approx(r["achieved_flops"] / result["peak_flops"]["fp32"])


def test_the_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--suite", "tiny", "--profile", "quick", "--seconds", "0", "--inversion-batch", "4",
                 "--device", "cpu", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["loop"] for r in data["loops"]} >= {"judge forward"}
    assert next(r for r in data["loops"] if r["loop"] == "PLG-MI inversion step")["items_per_step"] == 4
    assert "ratio to peak" in capsys.readouterr().out


def test_bf16_autocasts_the_loops_a_run_autocasts_and_compares_them_with_the_bf16_peak():
    result = run_bench("tiny", torch.device("cpu"), "quick", seconds=0.0, precision="bf16")
    loops = {r["loop"]: r for r in result["loops"]}
    assert result["precision"] == "bf16" and set(result["peak_flops"]) == {"fp32", "bf16"}
    assert loops["judge forward"]["precision"] == "fp32"  # the judge stays fp32 in a run
    for name in ("target train step", "PLG-MI GAN step", "PLG-MI inversion step"):
        r = loops[name]
        assert r["precision"] == "bf16"
        assert r["ratio_to_peak"] == pytest.approx(r["achieved_flops"] / result["peak_flops"]["bf16"])
