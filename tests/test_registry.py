"""Registries: lazy entry points, clear errors, duplicates, broken plugins failing only when selected."""

import sys
import textwrap

import pytest

from mibench.defense import Defense
from mibench.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
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


def test_two_distributions_claiming_one_name_fail_only_that_name(tmp_path, monkeypatch):
    _install_fake_distribution(tmp_path, monkeypatch, "mibench-clash", """
        [mibench.defenses]
        calor = somewhere_else:CALoR
        """)
    registry = Registry("defenses", Defense)
    assert "calor" in registry.names()
    with pytest.raises(DuplicateComponentError, match="'calor' is registered twice.*mibench-clash"):
        registry.get("calor")
    assert registry.get("none").name == "none"  # every other defense stays usable


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
