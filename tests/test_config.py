"""Parameters and suite profiles: budget scaling, range checks, and errors before any work starts."""

import dataclasses

import pytest

from mibench.cli import main
from mibench.components import param, resolve_params, scale_budget
from mibench.errors import ConfigError
from mibench.registries import SUITES
from mibench.spec import resolve, variant
from mibench.suite import Profile

from conftest import RECIPE, TinySuite


@dataclasses.dataclass(frozen=True)
class Demo:
    epochs: float = param(5.0, budget="epochs")
    iterations: int = param(30000, budget="iterations", min=1)
    steps: int = param(600, budget="steps")
    rank: int = param(30, min=1)
    mode: str = param("all", choices=("all", "some"))


def test_budget_fields_scale_by_kind_and_round():
    assert scale_budget(Demo, {"epochs": 0.2, "iterations": 1 / 75, "steps": 1 / 6}) == \
        {"epochs": pytest.approx(1.0), "iterations": 400, "steps": 100}
    assert scale_budget(Demo, {"iterations": 1e-9}) == {"iterations": 1}  # never silently 0
    assert scale_budget(Demo, {}) == {}


def test_values_out_of_range_are_errors_naming_the_field():
    with pytest.raises(ConfigError, match="steps=-5 must be >= 0"):
        resolve_params(Demo, {"steps": "-5"}, owner="demo")
    with pytest.raises(ConfigError, match="rank=0 must be >= 1"):
        resolve_params(Demo, {"rank": 0}, owner="demo")
    with pytest.raises(ConfigError, match="mode='none' must be one of 'all', 'some'"):
        resolve_params(Demo, {"mode": "none"}, owner="demo")
    with pytest.raises(ConfigError, match="must be a number, not NaN"):
        resolve_params(Demo, {"epochs": "nan"}, owner="demo")


@pytest.mark.parametrize("suite", SUITES.names())
def test_every_suite_profile_names_registered_components_and_fields(suite):
    cls = SUITES.get(suite)
    cls().validate_profiles()
    for name, prof in cls.profiles.items():
        assert prof.notes, f"profile {name} of {suite} has no scaling notes"


def test_a_profile_key_naming_no_component_or_field_is_an_error(monkeypatch):
    with pytest.raises(ConfigError, match="must be '<kind>.<name>'"):
        Profile("x", TinySuite.profiles["quick"].budget, RECIPE, components={"attack.plg": {}})
    with pytest.raises(ConfigError, match="unknown kinds"):
        Profile("x", TinySuite.profiles["quick"].budget, RECIPE, budget_scale={"epoch": 0.1})
    bad = dataclasses.replace(TinySuite.profiles["quick"], components={"attacks.plgg": {}})
    monkeypatch.setattr(TinySuite, "profiles", {"quick": bad})
    with pytest.raises(ConfigError, match="'attacks.plgg' names no usable component.*Did you mean 'plg'"):
        resolve("tiny", "none", "plg", "quick")
    typo = dataclasses.replace(TinySuite.profiles["quick"], components={"attacks.plg": {"inversion_step": 3}})
    monkeypatch.setattr(TinySuite, "profiles", {"quick": typo})
    with pytest.raises(ConfigError, match="has no parameter 'inversion_step'.*inversion_steps"):
        resolve("tiny", "none", "plg", "quick")


@pytest.mark.parametrize("setting, message", [
    ("attack.inversion_steps=-5", "inversion_steps=-5 must be >= 0"),
    ("defense.rank=-5", "rank=-5 must be >= 1"),
    ("evaluator.fid.subset=best", "subset='best' must be one of 'all', 'successful'"),
    ("evaluator.nosuch.x=1", "evaluator.<name> with <name> one of the suite's evaluators"),
])
def test_bad_settings_fail_before_any_work(setting, message, tmp_path, capsys):
    args = ["run", "--defense", "calor", "--attack", "plg", "--suite", "tiny", "--profile", "quick",
            "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--set", setting]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("device, message", [("gpu", "'gpu' is not a device"), ("cuda", "no CUDA device"),
                                             ("meta", "runs on cpu or cuda")])
def test_bad_device_is_a_clear_error(device, message, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", "--defense", "none", "--attack", "plg", "--suite", "tiny", "--profile", "quick",
                 "--device", device, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_control_needs_a_declared_control(monkeypatch):
    monkeypatch.setattr(TinySuite, "controls", {})
    with pytest.raises(ConfigError, match="declares no control for attack 'plg'"):
        resolve("tiny", "none", "plg", "quick", control=True)


def test_variant_names_what_a_run_sets_away_from_the_suite_in_set_spelling():
    default = resolve("mnist", "mid", "plg", "full")
    assert variant(default, default, ("beta",)) == ""
    changed = resolve("mnist", "mid", "plg", "full", overrides={
        "defense": {"beta": 0.01, "inference": "mean"}, "attack": {"inversion_steps": 37},
        "evaluator.fid": {"subset": "successful"}})
    assert variant(changed, default, ("beta",)) == "attack.inversion_steps=37;defense.inference=mean;evaluator.fid.subset=successful"
    assert "defense.beta=0.01" in variant(changed, default)  # a ladder point's knob is the strength column's
    control = resolve("mnist", "none", "plg", "full", control=True)
    assert variant(control, resolve("mnist", "none", "plg", "full", control=True)) == ""  # the control's own settings
    imported = dataclasses.replace(default, weights={"evaluator": "ab" * 32})
    assert variant(imported, default, ("beta",)) == "weights.evaluator=abababababab"
