"""setup.cfg lists every package folder: an editable install hides a missing line, a wheel drops the package."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"mibench": "mibench", "attacks": "mibench.attacks", "defenses": "mibench.defenses",
           "evaluators": "mibench.evaluators"}


def test_setup_cfg_lists_every_package_folder():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {".".join([package, *init.parent.relative_to(ROOT / folder).parts])
             for folder, package in FOLDERS.items() for init in (ROOT / folder).rglob("__init__.py")}
    assert found - listed == set()
