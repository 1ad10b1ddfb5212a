"""`mibench bench`: every hot loop the suite and the components declare is timed and its FLOPs
counted against a measured peak. No timing is asserted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import mibench.bench
from mibench.attacks.gmi.prior import gradient_penalty
from mibench.bench import Setting, count_flops, loops, run_bench
from mibench.cli import main
from mibench.registries import ATTACKS, DEFENSES, PRIORS

CPU = torch.device("cpu")
DEFENSES_WITH_OWN_STEP = ("bido", "calor", "ls", "mid", "tl")


@pytest.fixture(scope="module")
def declared():
    return loops(Setting("tiny", "quick", CPU, None))


def test_flops_of_a_matrix_multiply_are_counted_as_two_n_cubed():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_flops_are_counted_through_a_gradient_penalty():
    critic = torch.nn.Linear(4, 1)
    real, fake = torch.randn(3, 4), torch.randn(3, 4, requires_grad=True)
    flops = count_flops(lambda: gradient_penalty(critic, real, fake, torch.rand(3)).backward())
    assert flops >= 3 * 2 * 3 * 4  # forward, input gradient, and the penalty's backward through it


def test_every_attack_prior_and_defense_declares_its_hot_loops(declared):
    components = {component for component, _ in declared.values()}
    expected = ({f"attack {a}" for a in ATTACKS.names() if not ATTACKS.get(a).control_only}
                | {f"prior {p}" for p in PRIORS.names()} | {f"defense {d}" for d in DEFENSES_WITH_OWN_STEP})
    assert expected <= components
    for name, (component, loop) in declared.items():
        assert name.startswith(f"{component}: ") or component == "suite tiny"
        assert loop.items > 0
    assert {"target train step", "judge forward"} <= set(declared)


def test_the_loops_step_at_the_profiles_sizes(declared):
    # tiny quick: 3 classes x 2 images x 2 seeds; BREP-MI's 4 sphere points and the moved point each
    assert declared["attack plg: inversion step"][1].items == 12
    assert declared["attack gmi: inversion step"][1].items == 12
    assert declared["attack kedmi: recovery step"][1].items == 3 * 2  # one distribution per class and seed
    assert declared["attack brep: query step"][1].items == 12 * (4 + 1)
    assert declared["attack rlb: SAC update"][1].items == 6 * 4  # 6 agents x replay batch 4
    assert declared["defense calor: CA fine-tune step"][1].items == 16


def test_every_loop_reports_items_flops_and_a_ratio_to_peak():
    result = run_bench("tiny", CPU, "quick", seconds=0.0)
    assert len(result["loops"]) == len({r["loop"] for r in result["loops"]})
    for r in result["loops"]:
        assert r["flops_per_item"] > 0 and r["items_per_s"] > 0 and r["steps_timed"] >= 1, r["loop"]
        assert r["ratio_to_peak"] == pytest.approx(r["achieved_flops"] / result["peak_flops"]["fp32"])
        assert r["component"] and r["precision"] == "fp32"


def test_the_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--suite", "tiny", "--profile", "quick", "--seconds", "0", "--inversion-batch", "4",
                 "--device", "cpu", "--loops", "attack plg,judge forward", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    loops = {r["loop"]: r for r in data["loops"]}
    assert set(loops) == {"attack plg: GAN step", "attack plg: inversion step", "judge forward"}
    assert loops["attack plg: inversion step"]["items_per_step"] == 4
    assert loops["judge forward"]["component"] == "suite tiny"
    assert "ratio to peak" in capsys.readouterr().out


def test_loops_are_chosen_by_exact_name_or_part_of_a_name():
    result = run_bench("tiny", CPU, "quick", seconds=0.0, wanted=["target train step", "SAC"])
    assert [r["loop"] for r in result["loops"]] == ["target train step", "attack rlb: SAC update"]


def test_bf16_autocasts_the_loops_a_run_autocasts_and_compares_them_with_the_bf16_peak():
    result = run_bench("tiny", CPU, "quick", seconds=0.0, precision="bf16",
                       wanted=["target train step", "defense bido", "attack gmi", "judge forward"])
    loops = {r["loop"]: r for r in result["loops"]}
    assert result["precision"] == "bf16" and set(result["peak_flops"]) == {"fp32", "bf16"}
    assert loops["judge forward"]["precision"] == "fp32"  # the judge stays fp32 in a run
    for name in ("target train step", "defense bido: train step", "attack gmi: inversion step"):
        r = loops[name]
        assert r["precision"] == "bf16"
        assert r["ratio_to_peak"] == pytest.approx(r["achieved_flops"] / result["peak_flops"]["bf16"])


@pytest.mark.parametrize("args, says", [
    (["--suite", "nope"], "unknown suite 'nope'. Known suites: "),
    (["--loops", "attack plg,no such loop"], "no loop named 'no such loop'; loops: target train step; "),
    (["--device", "tpu"], "use auto, cpu, cuda or cuda:N"),
    (["--profile", "nope"], "profiles: quick"),
])
def test_bad_input_is_one_line_listing_what_exists(args, says, tmp_path, capsys):
    argv = ["bench", "--suite", "tiny", "--profile", "quick", "--seconds", "0", "--device", "cpu",
            "--out", str(tmp_path / "b.json"), *args]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists()


def test_an_unknown_precision_lists_the_precisions(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["bench", "--suite", "tiny", "--precision", "fp16"])
    assert exit.value.code == 2 and "choose from 'fp32', 'bf16'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has CUDA")
def test_cuda_without_cuda_says_so_in_one_line(capsys):
    assert main(["bench", "--suite", "tiny", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no CUDA device" in err


def test_the_bench_names_no_built_in_component():
    source = Path(mibench.bench.__file__).read_text()
    assert not re.search(r"\battacks\.|\bdefenses\.|\bevaluators\.", source)
    for name in [*ATTACKS.names(), *PRIORS.names(), *DEFENSES.names()]:
        assert f'"{name}"' not in source and f"'{name}'" not in source, name


def test_a_bench_of_one_components_loops_builds_no_other_component(monkeypatch):
    """celeba64's loops do not fit 24 GB together: ``--loops "attack plg"`` must not build the others."""
    from mibench.registries import ATTACKS, DEFENSES, PRIORS

    def never(self, ctx):
        raise AssertionError(f"{type(self).__name__}'s loops were built")

    for registry, keep in ((ATTACKS, "plg"), (DEFENSES, None), (PRIORS, None)):
        for name in registry.names():
            if name != keep:
                monkeypatch.setattr(registry.get(name), "hot_loops", never)
    declared = loops(Setting("tiny", "quick", CPU, None), ["attack plg"])
    assert declared and all(name.startswith("attack plg: ") for name in declared)
