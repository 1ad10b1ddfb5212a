"""The plugin guide (``docs/plugins.md``) is a working package: built from its own text, installed,
and run.

Every file of the example package is a fenced code block in the guide's section "Adding a defense
as a plugin" whose info string carries ``title="<path>"`` (e.g. ```` ```python title="mibench-example/
mibench_example/defense.py" ````). The test writes those blocks to a temporary folder, installs
the package with pip into a target folder, makes the registries rediscover their entry points, and
runs the plugin's defense, attack and evaluator end to end on the synthetic ``tiny`` suite.
"""

from __future__ import annotations

import configparser
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mibench import cli
from mibench.cli._common import parse_sets
from mibench.leaderboard import board_name
from mibench.registries import REGISTRIES, SUITES
from mibench.runner import RunOptions, run
from mibench.spec import resolve

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
SECTION = "## Adding a defense as a plugin"
FILE_BLOCK = re.compile(r'^```[\w+-]*[ \t]+title="(?P<path>[^"]+)"[ \t]*\n(?P<body>.*?)^```[ \t]*$', re.M | re.S)


def plugin_section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))  # the next level-2 heading ("### ..." stays inside)
    return text[start:] if end == -1 else text[start:end]


def example_files() -> dict[str, str]:
    """``{path: content}`` of every titled code block of the plugin section."""
    files: dict[str, str] = {}
    for m in FILE_BLOCK.finditer(plugin_section()):
        path = m["path"]
        assert path not in files, f"the plugin guide: {path} is given twice"
        assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
        files[path] = m["body"]
    return files


def package_root(files: dict[str, str]) -> str:
    roots = {Path(p).parts[0] for p in files}
    assert len(roots) == 1, f"the example's files should share one top folder, got {sorted(roots)}"
    return roots.pop()


def read_setup_cfg(files: dict[str, str]) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read_string(files[f"{package_root(files)}/setup.cfg"])
    return cfg


def entry_points(cfg: configparser.ConfigParser) -> dict[str, dict[str, str]]:
    """``{group: {name: target}}`` of setup.cfg's ``[options.entry_points]``."""
    out = {}
    for group, text in cfg["options.entry_points"].items():
        lines = [line.split("=", 1) for line in text.strip().splitlines() if line.strip()]
        out[group] = {name.strip(): target.strip() for name, target in lines}
    return out


def test_the_section_holds_a_complete_package():
    files = example_files()
    root = package_root(files)
    assert {f"{root}/pyproject.toml", f"{root}/setup.cfg"} <= set(files)
    assert "[build-system]" in files[f"{root}/pyproject.toml"]
    assert "setuptools.build_meta" in files[f"{root}/pyproject.toml"]
    cfg = read_setup_cfg(files)
    assert cfg["metadata"]["name"] and cfg["metadata"]["version"]
    assert "mibench" in cfg["options"]["install_requires"]
    packages = cfg["options"]["packages"].split()
    for package in packages:
        assert f"{root}/{package.replace('.', '/')}/__init__.py" in files
    groups = entry_points(cfg)
    assert {"mibench.defenses", "mibench.attacks", "mibench.evaluators"} <= set(groups)
    for group in groups.values():
        for target in group.values():
            module = target.split(":")[0]
            assert f"{root}/{module.replace('.', '/')}.py" in files, f"entry point {target} has no file in the plugin guide"
    section = plugin_section()
    assert f"pip install -e ./{root}" in section and "mibench ls defenses" in section
    for rule in ("must equal the class's `name`", "returns logits", "needs a default", "Bump `version`",
                 "distribution"):
        assert rule in section


def _rediscover(monkeypatch) -> None:
    """Make the global registries (which the runner uses) scan the entry points again; monkeypatch
    restores their previous state after the test."""
    for registry in REGISTRIES.values():
        monkeypatch.setattr(registry, "_entry_points", None)
        monkeypatch.setattr(registry, "_origins", registry._origins)
        monkeypatch.setattr(registry, "_conflicts", dict(registry._conflicts))
        monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))


def test_the_readme_plugin_installs_and_runs(tmp_path, monkeypatch, capsys):
    files = example_files()
    root = package_root(files)
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, encoding="utf-8")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-input", "--disable-pip-version-check", "--target", str(site), str(tmp_path / root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install of the guide's package failed:\n{done.stdout}\n{done.stderr}"

    cfg = read_setup_cfg(files)
    dist, version = cfg["metadata"]["name"], cfg["metadata"]["version"]
    groups = entry_points(cfg)
    defense, = groups["mibench.defenses"]
    attack, = groups["mibench.attacks"]
    evaluator, = groups["mibench.evaluators"]
    packages = cfg["options"]["packages"].split()

    monkeypatch.syspath_prepend(str(site))
    _rediscover(monkeypatch)
    try:
        # every entry point loads, under a name equal to its class's name, from the installed distribution
        for group, names in groups.items():
            registry = REGISTRIES[group.split(".", 1)[1]]
            for name in names:
                assert registry.get(name).name == name
                assert registry.origin(name) == {"distribution": dist, "distribution_version": version}
        assert cli.main(["ls", "defenses"]) == 0
        listed = [line for line in capsys.readouterr().out.splitlines() if f" {defense} " in line]
        assert listed and dist in listed[0]
        metrics = [m.name for m in REGISTRIES["evaluators"].get(evaluator).metrics]
        # the guide's commands resolve: its --set overrides, and its suite that lists the evaluator
        for suite in groups.get("mibench.suites", {}):
            assert evaluator in SUITES.get(suite).evaluators
            runs = [line for line in plugin_section().splitlines() if line.startswith("mibench run ")]
            sets = [s for line in runs for s in re.findall(r"--set (\S+)", line)]
            assert sets
            spec = resolve(suite, defense, attack, "quick", overrides=parse_sets(sets))
            assert set(spec.evaluator_params) == set(SUITES.get(suite).evaluators)

        # a plugin defense with a ladder gets its frontier like a built-in one
        assert cli.main(["frontier", "--suite", "tiny", "--profile", "quick", "--attack", attack, "--defenses", defense,
                         "--seeds", "0", "--dry-run", "--out", str(tmp_path / "runs")]) == 0
        ladder = REGISTRIES["defenses"].get(defense).ladder
        assert capsys.readouterr().out.count("seed 0") == 1 + len(ladder.points)

        tiny = SUITES.get("tiny")  # tests/conftest.py; a plugin evaluator runs in the suites that list it
        monkeypatch.setattr(tiny, "evaluators", (*tiny.evaluators, evaluator))
        spec = resolve("tiny", defense, attack, "quick")
        options = RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")
        record = run(spec, options)
        # its declared claim is re-tested on the board, against none under the same attack
        run(resolve("tiny", "none", attack, "quick"), options)
        capsys.readouterr()
        assert cli.main(["leaderboard", "claims", "--suite", "tiny", "--profile", "quick", "--markdown",
                         "--dir", str(tmp_path / "boards")]) == 0
        claimed, out = [c.text for c in REGISTRIES["defenses"].get(defense).claims], capsys.readouterr().out
        assert claimed and all(f"| {text} | {defense} | 1 |" in out for text in claimed)
    finally:
        for module in [m for m in sys.modules if m.split(".")[0] in {p.split(".")[0] for p in packages}]:
            del sys.modules[module]

    for kind in ("defense", "attack"):
        assert record.components[kind]["distribution"] == dist
        assert record.components[kind]["distribution_version"] == version
    by_name = {e["name"]: e for e in record.components["evaluators"]}
    assert by_name[evaluator]["distribution"] == dist and by_name[evaluator]["distribution_version"] == version

    budget = tiny.profiles["quick"].budget
    pngs = list((Path(record.run_folder) / "reconstructions").glob("*.png"))
    assert len(pngs) == budget.total

    assert metrics, f"evaluator {evaluator} declares no metric"
    frame = pd.read_csv(tmp_path / "boards" / f"{board_name('tiny', 'quick')}.csv")
    for metric in metrics:
        value = record.metrics[metric]
        assert isinstance(value, float) and math.isfinite(value)
        assert metric in frame.columns
        assert frame[metric].iloc[0] == pytest.approx(value, rel=1e-5)
