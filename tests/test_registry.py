"""Registries: lazy entry points, clear errors, duplicates, broken plugins failing only when selected."""

import sys
import textwrap

import pytest

from mibench.defense import Defense
from mibench.errors import ComponentClashError, DuplicateComponentError, PluginLoadError, UnknownComponentError
from mibench.registries import ATTACKS, DEFENSES, EVALUATORS, MODELS, SUITES
from mibench.registry import Registry


def test_builtins_are_found_through_entry_points():
    assert {"none", "calor"} <= set(DEFENSES.names())
    assert "plg" in ATTACKS.names()
    assert {"accuracy", "knn", "fid"} <= set(EVALUATORS.names())
    assert {"mcnn", "resnet_small"} <= set(MODELS.names())
    assert "mnist" in SUITES.names()
    origins = {e.name: e.origin for e in DEFENSES.entries()}
    assert origins["calor"] == "mibench"


def test_unknown_name_lists_known_names_and_the_closest_match():
    with pytest.raises(UnknownComponentError) as err:
        DEFENSES.get("calr")
    message = str(err.value)
    assert "Did you mean 'calor'?" in message
    assert "none" in message and "calor" in message


def test_every_component_declares_its_identity():
    for registry in (DEFENSES, ATTACKS, EVALUATORS, MODELS, SUITES):
        for name in registry.names():
            cls = registry.get(name)
            assert cls.name == name and cls.version and cls.paper and cls.code
    for name in ATTACKS.names():
        assert ATTACKS.get(name).access.value in ("white-box", "black-box", "label-only")


def test_duplicate_names_are_an_error():
    class Again(Defense):
        name, version, paper, code = "none", "1", "p", "c"

    with pytest.raises(DuplicateComponentError):
        DEFENSES.register()(Again)


def test_component_without_identity_is_rejected():
    class Anonymous(Defense):
        name = "anonymous"

    with pytest.raises(PluginLoadError, match="does not declare version"):
        DEFENSES.register()(Anonymous)


def _install_fake_distribution(tmp_path, monkeypatch, name, entry_points, modules=None):
    """A dist-info folder on sys.path: importlib.metadata sees it as an installed package."""
    dist = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for mod, source in (modules or {}).items():
        (tmp_path / f"{mod}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_third_party_plugin_is_loaded_and_a_broken_one_fails_only_when_selected(tmp_path, monkeypatch):
    _install_fake_distribution(tmp_path, monkeypatch, "mibench-demo", """
        [mibench.defenses]
        demo = demo_defense:Demo
        broken = not_a_module_anywhere:Nothing
        """, {"demo_defense": """
        from mibench.defense import Defense
        class Demo(Defense):
            name, version, paper, code = "demo", "0.1", "a demo paper", "https://example.org/demo"
        """})
    registry = Registry("defenses", Defense)
    assert {"demo", "broken", "calor"} <= set(registry.names())
    assert registry.get("demo").paper == "a demo paper"
    assert registry.get("calor").name == "calor"  # the broken plugin does not affect others
    with pytest.raises(PluginLoadError, match="broken.*failed to load"):
        registry.get("broken")
    sys.modules.pop("demo_defense", None)


@pytest.fixture
def calor_plugin(tmp_path, monkeypatch):
    """A plugin distribution, my-calor, that registers a defense ``calor`` beside mibench's (its module
    exists nowhere: nothing may import it). DEFENSES rediscovers; monkeypatch restores it."""
    _install_fake_distribution(tmp_path, monkeypatch, "my-calor", """
        [mibench.defenses]
        calor = my_calor:Calor
        """)
    monkeypatch.setattr(DEFENSES, "_entry_points", None)
    monkeypatch.setattr(DEFENSES, "_origins", DEFENSES._origins)
    monkeypatch.setattr(DEFENSES, "_conflicts", DEFENSES._conflicts)


def test_a_name_two_distributions_register_is_listed_twice_and_fails_only_when_selected(calor_plugin, capsys):
    from importlib.metadata import version

    from mibench.cli import main
    from mibench.spec import resolve

    providers = DEFENSES.clashes()["calor"]
    assert sorted(e.origin for e in providers) == ["mibench", "my-calor"]
    assert [e.origin for e in DEFENSES.entries() if e.name == "calor"] == ["mibench", "my-calor"]

    assert main(["ls", "defenses"]) == 0
    rows = [line.split("│") for line in capsys.readouterr().out.splitlines() if line.startswith("│ calor")]
    assert [row[1].strip() for row in rows] == ["calor (clash)", "calor (clash)"]
    assert [row[3].strip() for row in rows] == [f"mibench {version('mibench')}", "my-calor 1.0"]

    with pytest.raises(ComponentClashError) as err:  # never silently one of the two
        DEFENSES.get("calor")
    message = str(err.value)
    for part in ("mibench.defenses.calor:CALoR", "my-calor 1.0 (my_calor:Calor)", "pip uninstall my-calor",
                 "rename its entry point (group mibench.defenses)"):
        assert part in message
    assert main(["run", "--defense", "calor", "--attack", "plg"]) == 2
    assert "pip uninstall my-calor" in capsys.readouterr().err

    # everything else keeps working: the profile's "defenses.calor" key is not checked against either class
    spec = resolve("mnist", "none", "plg", "full")
    assert spec.defense == "none" and resolve("mnist", "mid", "plg", "full").defense_params["beta"] == 0.2
    assert resolve("mnist", "none", "blank", "full", control=True).attack == "blank"
    assert "calor" not in DEFENSES.usable_names() and "none" in DEFENSES.usable_names()


def test_origin_names_the_distribution_and_its_version():
    from importlib.metadata import version

    assert DEFENSES.origin("calor") == {"distribution": "mibench", "distribution_version": version("mibench")}


def test_params_without_a_default_are_rejected():
    from dataclasses import dataclass

    class NoDefault(Defense):
        name, version, paper, code = "nodefault", "1", "p", "c"

        @dataclass(frozen=True)
        class Params:
            beta: float

    with pytest.raises(PluginLoadError, match="every Params field needs a default.*beta"):
        DEFENSES.register()(NoDefault)
