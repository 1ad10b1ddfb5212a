"""MID (defenses/mid.py): the VIB head and its loss against values computed by hand; its deployed
(sampled) inference, seeded by the run, chunk-invariant, and the mean path kept as before."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mibench import stages
from mibench.access import Access, fixed_noise, reseed, samples, view_for
from mibench.cache import Cache
from mibench.cli import main
from mibench.data import DataRoles
from mibench.defense import DefenseContext
from mibench.defenses.mid import MID, VIBHead, gaussian_kl
from mibench.errors import ConfigError, TrainingError
from mibench.models import Classifier
from mibench.models.mcnn import MCNN
from mibench.registries import SUITES
from mibench.stages import counted_build, natural_accuracies
from mibench.tensors import as_float
from mibench.training import TrainRecipe, accuracy


def test_kl_by_hand():
    # row 0: mu = (1, 0), sigma = (1, e^-1)
    #   dim 0: 1 + 1 - 1 - log 1 = 1;  dim 1: 0 + e^-2 - 1 - log e^-2 = 1 + e^-2
    #   KL = 0.5 * (2 + e^-2) = 1 + e^-2 / 2
    # row 1: mu = 0, sigma = 1 is the prior itself: KL = 0.  Mean over the batch: half of row 0.
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    sigma = torch.tensor([[1.0, math.exp(-1)], [1.0, 1.0]])
    assert gaussian_kl(mu, sigma).item() == pytest.approx((1 + math.exp(-2) / 2) / 2, rel=1e-6)


def test_kl_gradient_by_hand():
    # d/dmu 0.5 (mu^2 + sigma^2 - 1 - 2 log sigma) = mu;  d/dsigma = sigma - 1/sigma; / batch size 2
    mu = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    sigma = torch.tensor([[1.0, 0.5], [2.0, 1.0]], requires_grad=True)
    gaussian_kl(mu, sigma).backward()
    assert torch.allclose(mu.grad, mu.detach() / 2)
    assert torch.allclose(sigma.grad, torch.tensor([[0.0, 0.5 - 2.0], [2.0 - 0.5, 0.0]]) / 2)


def hand_model() -> Classifier:
    """d = 2, k = 1: s = h + (0, 5), so mu = h_0 and sigma = softplus(h_1); logits = (z, 0)."""
    head = VIBHead(feature_dim=2, num_classes=2)
    with torch.no_grad():
        head.stats.weight.copy_(torch.eye(2))
        head.stats.bias.copy_(torch.tensor([0.0, 5.0]))
        head.classify.weight.copy_(torch.tensor([[1.0], [0.0]]))
        head.classify.bias.zero_()
    return Classifier(nn.Identity(), head)


@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_loss_by_hand_in_eval_mode(beta):
    # h = (1, log(e - 1)): mu = 1, sigma = log(1 + e - 1) = 1, so KL = 0.5 (1 + 1 - 1 - 0) = 0.5.
    # eval mode: z = mu = 1, logits (1, 0), CE for y = 0 is log(1 + e^-1).
    model = hand_model().eval()
    h = torch.tensor([[1.0, math.log(math.e - 1)]])
    loss = MID({"beta": beta}).loss(model, h, torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)) + beta * 0.5, rel=1e-6)


def test_beta_term_reaches_the_encoder_only():
    """In eval mode (z = mu) the KL gradient is beta * dKL/ds on the stats layer and nothing on the
    classifier: for mu = 1, sigma = 1, dKL/dmu = 1 and dKL/dsigma = 0, so bias grad differs by (beta, 0)."""
    h, y = torch.tensor([[1.0, math.log(math.e - 1)]]), torch.tensor([0])
    grads = {}
    for beta in (0.0, 0.5):
        model = hand_model().eval()
        MID({"beta": beta}).loss(model, h, y).backward()
        grads[beta] = {n: p.grad.clone() for n, p in model.named_parameters()}
    difference = grads[0.5]["head.stats.bias"] - grads[0.0]["head.stats.bias"]
    assert torch.allclose(difference, torch.tensor([0.5, 0.0]), atol=1e-6)
    assert torch.equal(grads[0.5]["head.classify.weight"], grads[0.0]["head.classify.weight"])


def test_train_mode_samples_and_eval_mode_uses_the_mean():
    torch.manual_seed(0)
    head = VIBHead(feature_dim=8, num_classes=3)
    h = torch.randn(5, 8)
    with torch.no_grad():
        head.stats.bias[4:] = 10.0  # sigma ~ softplus(5): sampling is visible
        head.train()
        assert not torch.equal(head(h), head(h))
        head.eval()
        logits, mu, sigma = head.forward_stats(h)
        assert torch.equal(head(h), head(h))
        assert torch.equal(logits, head(h)) and torch.equal(logits, head.classify(mu))
        assert mu.shape == sigma.shape == (5, 4) and (sigma > 0).all()


def tiny_context(lr: float = 0.05) -> tuple[DefenseContext, DataRoles]:
    data = SUITES.get("tiny")().load()
    ctx = DefenseContext(data=data, num_classes=4, make_backbone=lambda: MCNN(1, 0.125),
                         recipe=TrainRecipe(epochs=5, batch_size=16, lr=lr), device=torch.device("cpu"), seed=0)
    return ctx, data


def test_trains_a_target_end_to_end():
    ctx, data = tiny_context()
    torch.manual_seed(0)
    model = MID().train(ctx)
    assert isinstance(model.head, VIBHead) and model.head.k == 16  # MCNN width 0.125: d = 32
    assert accuracy(model, data.private_test, ctx.device) > 0.5
    x = as_float(data.private_test.images[:4])
    model.eval()
    reseed(model, 3)
    first = model(x)
    reseed(model, 3)
    assert torch.equal(model(x), first)  # the deployed (sampled) model is a function of its seed
    accs = natural_accuracies(model, data, ctx.device, seed=0)
    assert accs == natural_accuracies(model, data, ctx.device, seed=0)
    assert set(accs) == {"natural_acc", "natural_acc_mean"} and accs["natural_acc_mean"] > 0.5
    model.head.sample = False  # the mean path alone reports one accuracy, today's
    assert natural_accuracies(model, data, ctx.device, seed=0) == {"natural_acc": accs["natural_acc_mean"]}


def test_a_diverging_run_raises_a_training_error_naming_the_stage():
    ctx, _ = tiny_context(lr=1e6)
    torch.manual_seed(0)
    with pytest.raises(TrainingError, match=r"target \[mid\]"):
        MID().train(ctx)


def test_bad_parameters_and_the_ladder():
    with pytest.raises(ConfigError, match="beta"):
        MID({"beta": -1})
    betas = [MID(point).params.beta for point in MID.ladder.points]
    assert betas == sorted(betas) and MID().params.beta in betas  # weakest first, default on it


def noisy_mid(inference: str = "sample", seed: int = 0) -> Classifier:
    """A MID target (identity backbone, d = 8, k = 4, 3 classes) with sigma ~ softplus(5): the noise
    is visible in the logits."""
    torch.manual_seed(seed)
    model = Classifier(nn.Identity(), MID({"inference": inference}).head(8, 3))
    with torch.no_grad():
        model.head.stats.bias[4:] = 10.0
    return model.eval()


def mean_logits(model: Classifier, h: torch.Tensor) -> torch.Tensor:
    """The mean path as version 1 computed it in eval mode: classify(mu), mu = stats(h)[:, :k]."""
    return model.head.classify(model.head.stats(h)[:, :model.head.k])


def test_inference_defaults_to_the_official_sampling_and_takes_only_sample_or_mean():
    assert MID().params.inference == "sample" and MID({"inference": "mean"}).params.inference == "mean"
    with pytest.raises(ConfigError, match=r"inference='bogus' must be one of 'sample', 'mean'"):
        MID({"inference": "bogus"})


def test_a_bad_inference_is_one_line_and_exit_2_before_any_training(tmp_path, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("trained a target")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stages, "train_target", no_training)
    assert main(["run", "--defense", "mid", "--attack", "gmi", "--set", "defense.inference=bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "inference='bogus' must be one of 'sample', 'mean'" in err


def test_the_deployed_model_samples_z_in_eval_mode():
    """Fails on version 1, whose eval mode returned the mean path."""
    model, h = noisy_mid(), torch.randn(6, 8)
    with torch.no_grad():
        assert samples(model) and not torch.equal(model(h), mean_logits(model, h))
        assert not torch.equal(model(h), model(h))  # fresh noise for every query, as the official code


def test_sampled_outputs_are_a_function_of_the_seed():
    model, h = noisy_mid(), torch.randn(6, 8)
    with torch.no_grad():
        outputs = {}
        for seed in (0, 1, 0):
            reseed(model, seed)
            outputs.setdefault(seed, []).append(model(h))
        assert torch.equal(*outputs[0]) and not torch.equal(outputs[0][0], outputs[1][0])
        # the run seed reaches the noise through the attack's view: same seed, same answers
        probs = [view_for(Access.BLACK_BOX, model, 3, (1, 1, 8), seed=s)(h) for s in (5, 5, 6)]
        assert torch.equal(probs[0], probs[1]) and not torch.equal(probs[0], probs[2])


def test_the_noise_does_not_depend_on_how_the_rows_are_chunked():
    """Any chunks of rows, any k: torch.randn would fail this (its CPU fill pairs values in blocks
    of 16 of the whole tensor)."""
    from mibench.defenses.mid import row_normals

    g = torch.Generator()
    whole = row_normals(37, 5, g.manual_seed(3))
    g.manual_seed(3)
    assert torch.equal(torch.cat([row_normals(n, 5, g) for n in (1, 2, 3, 31)]), whole)
    assert abs(float(whole.mean())) < 0.2 and abs(float(whole.std()) - 1) < 0.2


def test_sampling_is_chunk_invariant():
    """Rows queried two at a time get exactly the logits of one call. The layers are exact here
    (integer inputs and weights, each class reads one latent), so only the noise could differ.
    k = 16: the CPU's softplus kernel (sigma) is bit-identical across chunks only when their sizes
    are multiples of its vector width, as BREP-MI's chunks of 128 rows always are (test below)."""
    torch.manual_seed(0)
    model, h = Classifier(nn.Identity(), MID().head(32, 3)).eval(), torch.randint(-3, 4, (37, 32)).float()
    with torch.no_grad():
        model.head.stats.weight.copy_(torch.randint(-2, 3, (32, 32)).float())
        model.head.stats.bias.copy_(torch.tensor([0.0] * 16 + [6.0] * 16))
        model.head.classify.weight.copy_(torch.eye(3, 16))
        model.head.classify.bias.zero_()
        reseed(model, 7)
        whole = model(h)
        reseed(model, 7)
        assert torch.equal(torch.cat([model(part) for part in h.split(2)]), whole)
        assert not torch.equal(whole, mean_logits(model, h))


def test_map_rows_gives_one_calls_sampled_outputs_on_the_mnist_target():
    """As tests/test_chunks.py for the mean path: BREP-MI's chunks of 128 rows on a CPU."""
    from mibench.chunks import map_rows

    torch.manual_seed(0)
    backbone = MCNN(1, 0.5)
    T = Classifier(backbone, MID().head(backbone.feature_dim, 5)).eval().requires_grad_(False)
    x = torch.rand(300, 1, 32, 32)  # 3 chunks of 128, 128 and 44 rows
    with torch.no_grad():
        reseed(T, 0)
        chunked = map_rows(T, x, (1, 32, 32), torch.device("cpu"))
        reseed(T, 0)
        assert torch.equal(chunked, T(x))


def test_mean_mode_is_the_version_1_mean_path():
    model, h = noisy_mid("mean"), torch.randn(6, 8)
    with torch.no_grad():
        assert not samples(model) and torch.equal(model(h), mean_logits(model, h))
        reseed(model, 1)
        assert torch.equal(model(h), mean_logits(model, h))


def test_training_mode_still_samples_from_the_global_rng():
    model, h = noisy_mid(), torch.randn(6, 8)
    model.train()
    torch.manual_seed(4)
    first = model(h)
    torch.manual_seed(4)
    assert torch.equal(model(h), first)


def test_a_target_dependent_artifact_and_the_noise_after_it_do_not_depend_on_the_cache(tmp_path):
    """An artifact built through the view draws noise seeded by its key, whatever the run seed; the
    attack's noise after it is the same whether it came from the cache or was built."""
    h = torch.randn(5, 8)

    def one_run(cache: Cache, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        view = view_for(Access.BLACK_BOX, noisy_mid(), 3, (1, 1, 8), seed=seed)
        payload = counted_build(cache, "attacks", {"artifact": "probe"}, lambda: {"p": view(h)}, view)
        return payload["p"], view(h)

    built, after_built = one_run(Cache(tmp_path / "a"), seed=0)
    cached, after_cached = one_run(Cache(tmp_path / "a"), seed=0)
    other_seed, after_other = one_run(Cache(tmp_path / "b"), seed=1)
    assert torch.equal(built, cached) and torch.equal(built, other_seed)
    assert torch.equal(after_built, after_cached) and not torch.equal(after_built, after_other)
    with fixed_noise(object(), "key"):  # a view of its own kind (a test double) is left alone
        pass
