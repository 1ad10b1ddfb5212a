"""The pipeline's guarantees to components, and every defense's on a diverging loss.

The contract each registered component keeps (a defense's target classifies, an attack reads no
private data and returns its budget, an evaluator returns finite declared numbers) is checked by
:mod:`mibench.testing` (``check_defense``, ``check_attack``, ``check_prior``, ``check_evaluator``),
which ``tests/test_snapshots.py`` runs for every component beside its snapshot.
"""

import math

import pytest
import torch

from mibench.attack import Reconstructions
from mibench.errors import TrainingError
from mibench.registries import ATTACKS, DEFENSES
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve
from mibench.testing import ContractError, TinySuite, check_attack, check_defense


def options(tmp_path):
    return RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")


@pytest.mark.parametrize("defense", DEFENSES.names())
def test_every_defense_whose_loss_turns_nan_names_itself_and_caches_no_target(defense, tmp_path, monkeypatch):
    monkeypatch.setattr(DEFENSES.get(defense), "loss", lambda self, model, x, y: model(x).sum() * math.nan)
    with pytest.raises(TrainingError, match=rf"target \[{defense}.*the loss became \[?nan\]? at step 1;"):
        check_defense(defense, tmp_path)
    assert not list(tmp_path.glob("targets/*"))


def test_the_attack_check_catches_an_attack_that_swallows_the_private_data_guard(tmp_path):
    from mibench.access import Access
    from mibench.attack import Attack
    from mibench.errors import PrivateDataAccessError

    smuggled = TinySuite().load()

    class Swallow(Attack):
        name, version, paper, code, access = "swallow", "1", "p", "c", Access.WHITE_BOX

        def run(self, ctx):
            try:
                smuggled.private_train
            except PrivateDataAccessError:  # fallback: the attack under test hides the guard's error on purpose
                pass
            labels, seeds = ctx.budget.labels_and_seeds()
            return Reconstructions(ctx.public.images[: len(labels)], labels, seeds)

    ATTACKS.register()(Swallow)
    try:
        with pytest.raises(ContractError, match=r"attack 'swallow' read the private roles \['private_train'\]"):
            check_attack("swallow", tmp_path)
    finally:
        ATTACKS.unregister("swallow")


def test_attack_code_cannot_read_private_data(tmp_path):
    """An attack that reaches for private data through a DataRoles it smuggled in is stopped."""
    from mibench.access import Access
    from mibench.attack import Attack
    from mibench.errors import PrivateDataAccessError

    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"), options(tmp_path))
    smuggled = pipe.suite.load()

    class Cheat(Attack):
        name, version, paper, code, access = "cheat", "1", "p", "c", Access.WHITE_BOX

        def run(self, ctx):
            images = smuggled.private_train.images[:1]
            return Reconstructions(images, torch.zeros(1), torch.zeros(1))

    pipe.attack = Cheat()
    with pytest.raises(PrivateDataAccessError, match="public data only"):
        pipe.run()


@pytest.mark.parametrize("kind", ["black-box", "label-only"])
def test_the_pipeline_hands_an_attack_exactly_the_view_it_declared(kind, tmp_path):
    """Black-box and label-only attacks run through the whole pipeline with their view only."""
    from mibench.access import Access
    from mibench.attack import Attack

    seen = {}

    class Probe(Attack):
        name, version, paper, code, access = f"probe-{kind}", "1", "p", "c", Access(kind)

        def run(self, ctx):
            x = ctx.public.images[:2].to(ctx.device).requires_grad_(True)
            seen["methods"] = {m for m in ("logits", "probs", "labels") if hasattr(ctx.target, m)}
            out = ctx.target(x)
            seen["differentiable"] = out.requires_grad
            labels, seeds = ctx.budget.labels_and_seeds()
            return Reconstructions(ctx.public.images[: len(labels)], labels, seeds)

    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"), options(tmp_path))
    pipe.attack = Probe()
    record = pipe.run()
    assert seen["methods"] == ({"probs"} if kind == "black-box" else {"labels"})
    assert seen["differentiable"] is False  # no gradient reaches the attacker
    assert record.components["attack"]["access"] == kind and record.attack_queries == 2
