"""Tests for mibench's components, and for a plugin's: the synthetic suite, the contract checks and
the component snapshots.

``check_defense(name)``, ``check_attack(name)``, ``check_prior(name)`` and ``check_evaluator(name)``
run one registered component end to end on the synthetic ``tiny`` suite at a fixed seed, assert its
contract and return its :class:`Snapshot` (the SHA-256 of each of its outputs). :func:`verify`
compares a snapshot with the one recorded in a snapshot file (``mibench snapshots record``), so a
change to a component's numbers fails a unit test that names the component and the output::

    from mibench.testing import check_defense, verify

    def test_my_defense_reproduces_its_snapshot():
        verify(check_defense("mine"), "tests/snapshots/tiny.json")

See ``docs/testing.md``.
"""

from .checks import (ContractError, check, check_attack, check_defense, check_evaluator, check_prior, components,
                     snapshot_environment)
from .snapshot import Snapshot
from .store import SnapshotError, SnapshotFile, SnapshotMismatch, SnapshotSkipped, record, verify
from .suite import RECIPE, TinySuite, register_tiny_suite, synthetic_images

__all__ = ["ContractError", "RECIPE", "Snapshot", "SnapshotError", "SnapshotFile", "SnapshotMismatch",
           "SnapshotSkipped", "TinySuite", "check", "check_attack", "check_defense", "check_evaluator", "check_prior",
           "components", "record", "register_tiny_suite", "snapshot_environment", "synthetic_images", "verify"]
