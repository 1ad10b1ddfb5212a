"""Every registered defense, attack and evaluator runs end to end on the synthetic ``tiny`` suite.

Parametrised over the registries, so a newly registered component is smoke-tested without a new test.
"""

import math

import pytest
import torch

from mibench.attack import Reconstructions
from mibench.data import DataRoles
from mibench.errors import TrainingError
from mibench.registries import ATTACKS, DEFENSES, EVALUATORS
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve
from mibench.stages import train_target


def options(tmp_path):
    return RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")


@pytest.mark.parametrize("defense", DEFENSES.names())
def test_every_defense_trains_a_target_that_classifies(defense, tmp_path):
    pipe = Pipeline(resolve("tiny", defense, "plg", "quick"), options(tmp_path))
    data = pipe.suite.load()
    target = train_target(pipe.suite, pipe.profile, pipe.defense, pipe.spec.defense_params, data, pipe.cache,
                          pipe.device)
    assert target.accuracy > 0.5  # 4 well-separated synthetic classes
    assert target.model(data.private_test.images[:3]).shape == (3, 4)


@pytest.mark.parametrize("defense", DEFENSES.names())
def test_every_defense_whose_loss_turns_nan_names_itself_and_caches_no_target(defense, tmp_path, monkeypatch):
    pipe = Pipeline(resolve("tiny", defense, "plg", "quick"), options(tmp_path))
    monkeypatch.setattr(type(pipe.defense), "loss", lambda self, model, x, y: model(x).sum() * math.nan)
    with pytest.raises(TrainingError, match=rf"target \[{defense}.*the loss became \[?nan\]? at step 1;"):
        train_target(pipe.suite, pipe.profile, pipe.defense, pipe.spec.defense_params, pipe.suite.load(), pipe.cache,
                     pipe.device)
    assert not list(pipe.cache.root.glob("targets/*"))


@pytest.mark.parametrize("attack", ATTACKS.names())
def test_every_attack_returns_the_budget_without_reading_private_data(attack, tmp_path, monkeypatch):
    reads = []
    original = DataRoles._private

    def spy(self, role):
        reads.append(role)  # recorded even when the guard raises and the attack swallows it
        return original(self, role)

    monkeypatch.setattr(DataRoles, "_private", spy)
    control_only = ATTACKS.get(attack).control_only
    pipe = Pipeline(resolve("tiny", "none", attack, "quick", control=control_only), options(tmp_path))
    original_run = pipe.attack.run

    def watched(ctx):
        reads.clear()  # the private reads before the attack (training, the judge) are allowed
        out = original_run(ctx)
        assert reads == [], f"the attack read private roles {reads}"
        return out

    pipe.attack.run = watched
    record = pipe.run()
    budget = pipe.profile.budget
    folder = pipe.run_folder()
    pngs = sorted((folder / "reconstructions").glob("*.png"))
    assert len(pngs) == budget.total
    assert (folder / "grid.png").is_file() and (folder / "record.json").is_file()
    assert 0.0 <= record.metrics["attack_acc_top1"] <= 1.0
    assert record.attack_queries > 0 or control_only


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One tiny attack, shared by the evaluator tests."""
    pipe = Pipeline(resolve("tiny", "none", "plg", "quick"),
                    RunOptions(device="cpu", cache_root=tmp_path_factory.mktemp("cache")))
    prep = pipe.prepare()
    recon, _ = pipe.reconstruct(prep)
    return pipe.eval_context(prep, recon)


@pytest.mark.parametrize("evaluator", EVALUATORS.names())
def test_every_evaluator_returns_finite_declared_numbers(evaluator, attacked):
    ev = EVALUATORS.get(evaluator)()
    metrics = ev.evaluate(attacked)
    declared = {m.name: m for m in ev.metrics}
    assert set(metrics) <= set(declared), "every returned metric is declared"
    numbers = {k: v for k, v in metrics.items() if declared[k].kind == "number"}
    assert numbers and all(isinstance(v, float) for v in numbers.values())
    if evaluator in attacked.notes:  # its weights file is absent here: NaN (never 0) and a note naming the file
        assert all(math.isnan(v) for v in numbers.values()) and "not found" in attacked.notes[evaluator]
    else:
        assert all(math.isfinite(v) for v in numbers.values())


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
