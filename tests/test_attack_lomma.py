"""LOMMA: its logit loss, feature regulariser, model averaging and surrogate distillation by hand,
the target scope of its surrogates (one set per target, shared by seeds and by both attacks), and
that with its three changes switched off it is its base attack to the bit."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mibench.access import Access, view_for
from mibench.attack import AttackBudget, AttackContext
from mibench.attacks.gmi import Inversion
from mibench.attacks.lomma import (LOMMAGMI, LOMMAKEDMI, ensemble_identity, feature_regularizer, logit_loss,
                                   lomma_identity)
from mibench.attacks.lomma.prior import LOMMASurrogates, check_surrogates, distillation_loss, family, tempered
from mibench.data import PublicImages
from mibench.errors import ConfigError
from mibench.models import Classifier
from mibench.prior import PriorContext
from mibench.registries import ATTACKS, PRIORS, SUITES
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve


def test_logit_loss_is_minus_the_attacked_logit():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]])
    assert logit_loss(logits, torch.tensor([0, 2])).tolist() == [-2.0, -1.0]


def test_the_identity_loss_is_averaged_over_the_models():
    target, surrogate = torch.tensor([[1.0, 0.0]]), torch.tensor([[4.0, 2.0]])
    y = torch.tensor([0])
    assert ensemble_identity([target, surrogate], y).item() == pytest.approx((-1 - 4) / 2)
    # cross-entropies: log(1 + e^-1) and log(1 + e^-2)
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2))) / 2
    assert ensemble_identity([target, surrogate], y, use_logit_loss=False).item() == pytest.approx(expected)


def test_feature_regularizer_is_the_squared_distance_over_the_dimension():
    features, p_reg = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([1.0, 0.0])
    assert feature_regularizer(features, p_reg).tolist() == [(0 + 4) / 2, (1 + 0) / 2]


def test_distillation_loss_by_hand():
    # KL((1/4, 3/4) || (1/2, 1/2)) = 1/4 log(1/2) + 3/4 log(3/2), the same for both rows: the batch mean
    student, teacher = torch.zeros(2, 2), torch.tensor([[0.25, 0.75], [0.25, 0.75]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert distillation_loss(student, teacher, 1.0).item() == pytest.approx(expected)
    # T = 2: softmax((2, 0) / 2) = (e, 1) / (e + 1); KL((1/2, 1/2) || it) / T^2
    s = math.e / (math.e + 1)
    kl = 0.5 * math.log(0.5 / s) + 0.5 * math.log(0.5 / (1 - s))
    student, teacher = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    assert distillation_loss(student, teacher, 2.0).item() == pytest.approx(kl / 4)


def test_tempered_soft_labels_are_the_softmax_at_temperature_t():
    probs = torch.tensor([[0.2, 0.8]])  # T = 2: sqrt(0.2) : sqrt(0.8) = 1 : 2
    assert tempered(probs, 2.0).tolist()[0] == pytest.approx([1 / 3, 2 / 3])
    assert tempered(probs, 1.0) is probs


def linear_classifier(scale: float) -> Classifier:
    """features(x) = flatten(x) (2-d), logits = scale * features."""
    head = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(scale * torch.eye(2))
    return Classifier(nn.Flatten(), head)


def fake_context(prior=None):
    public = PublicImages(torch.tensor([[[[1.0, 1.0]]], [[[3.0, 3.0]]]]), "fingerprint")  # p_reg = (2, 2)
    return SimpleNamespace(target=view_for(Access.WHITE_BOX, linear_classifier(1.0), 2, (1, 1, 2)), public=public,
                           device=torch.device("cpu"), artifact=lambda name, config, build: build(),
                           prior=prior or (lambda name: [linear_classifier(2.0).eval()]))


def test_the_lomma_identity_adds_the_regulariser_to_the_mean_logit_loss():
    x, y = torch.tensor([[[[1.0, 0.0]]]], requires_grad=True), torch.tensor([0])
    identity = lomma_identity(LOMMAGMI.Params(reg_coef=0.5), fake_context())
    loss = identity(x, y)
    # logits: target (1, 0), surrogate (2, 0): mean(-1, -2) = -1.5; ((1 - 2)^2 + (0 - 2)^2) / 2 = 2.5
    assert loss.item() == pytest.approx(-1.5 + 0.5 * 2.5)
    loss.sum().backward()
    # d/dx of -(x0 + 2 x0) / 2 + 0.5 ((x0 - 2)^2 + (x1 - 2)^2) / 2 at (1, 0) = (-1.5 - 0.5, -1)
    assert x.grad.flatten().tolist() == pytest.approx([-2.0, -1.0])


def test_without_augmentation_the_surrogates_are_never_built():
    def no_prior(name):
        raise AssertionError("the surrogates were requested")

    identity = lomma_identity(LOMMAKEDMI.Params(augment=False, reg_coef=0.0), fake_context(no_prior))
    assert identity(torch.tensor([[[[1.0, 0.0]]]]), torch.tensor([1])).item() == 0.0  # -l_1 = -0


def test_the_surrogates_are_the_declared_backbones_with_a_head_per_class():
    prior = LOMMASurrogates({"surrogates": [["mcnn", {"width": 0.125, "in_channels": 3}], ["resnet_small", {}]]})
    ctx = PriorContext(public=None, image_shape=(1, 32, 32), num_classes=4, device=torch.device("cpu"), seed=0)
    nets = prior.networks(ctx)
    assert [type(n.backbone).__name__ for n in nets] == ["MCNN", "ResNetSmall"]
    assert all(n(torch.rand(2, 1, 32, 32)).shape == (2, 4) for n in nets)  # in_channels: the suite's


def _suites():
    """(suite, profile) for mnist's profiles and every celeba64 target (``--set suite.target=``)."""
    mnist = SUITES.get("mnist")()
    celeba = [SUITES.get("celeba64")(params={"target": t}) for t in ("ir152", "vgg16", "facenet64")]
    return [(s, p) for s in (mnist, *celeba) for p in s.profiles]


@pytest.mark.parametrize("suite, profile", _suites(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_no_surrogate_is_of_the_suites_target_family(suite, profile):
    """LOMMA augments the target with other families (EfficientNet-B0/B1/B2 against VGG16, IR152, FaceNet64);
    the mnist profiles' surrogates were MCNNs, the target's own architecture (protocol v2)."""
    params = LOMMASurrogates.Params(**suite.component_params("priors", LOMMASurrogates, profile))
    archs = [arch for arch, _ in params.surrogates]
    assert archs and suite.target_arch not in archs
    assert all(family(arch) != family(suite.target_arch) for arch in archs), (suite.target_arch, archs)
    check_surrogates(params.surrogates, suite.target_arch)


def test_a_surrogate_of_the_targets_family_is_refused_by_name():
    with pytest.raises(ConfigError, match="surrogate 'mcnn' is of the target's own family \\('mcnn'"):
        check_surrogates((("resnet_small", {}), ("mcnn", {"width": 0.25})), "mcnn")
    with pytest.raises(ConfigError, match="surrogate 'facenet64' is of the target's own family \\('ir152_64'"):
        check_surrogates((("facenet64", {}),), "ir152_64")  # IR-50 and IR-152: one family
    check_surrogates((("resnet_small", {}),), "mcnn")
    check_surrogates((("mcnn", {}),), None)  # no target named: nothing to compare
    ctx = SimpleNamespace(image_shape=(1, 32, 32), num_classes=4, device=torch.device("cpu"), target_arch="mcnn")
    with pytest.raises(ConfigError, match="'mcnn'"):
        LOMMASurrogates({"surrogates": [["mcnn", {"width": 0.25}]]}).networks(ctx)
    assert len(LOMMASurrogates({"surrogates": [["resnet_small", {"widths": [4, 8], "blocks": 1}]]}).networks(ctx)) == 1


def test_lomma_declares_its_priors_and_the_paper_defaults():
    assert ATTACKS.get("lomma-gmi").priors == ("gmi-wgan", "lomma-surrogates")
    assert ATTACKS.get("lomma-kedmi").priors == ("kedmi-gan", "lomma-surrogates")
    assert PRIORS.get("lomma-surrogates").scope == "target"
    p = LOMMAKEDMI.Params()
    assert (p.logit_loss, p.augment, p.reg_coef, p.reg_samples, p.lam, p.steps) == (True, True, 1.0, 5000, 100.0, 2400)
    s = LOMMASurrogates.Params()
    assert (len(s.surrogates), s.epochs, s.lr, s.batch_size, s.temperature) == (3, 20.0, 0.01, 64, 1.0)


def test_lomma_gmi_divides_its_loss_by_lommas_60_identities_per_batch():
    # 120 identities of one seed: two batches of LOMMA's 60 (version 1 divided by all 120). With a
    # linear G(z) = z A, critic <w, x> and target logits x B, the loss lam (-l_y) - D has the constant
    # gradient g_i = -lam (A B)[:, y_i] - A w, and GMI's Nesterov step from v = 0 is -(1 + m) lr g_i / 60.
    assert LOMMAGMI.Params().batch_identities == 60
    gen = torch.Generator().manual_seed(0)
    A, w, B = torch.randn(3, 2, generator=gen), torch.randn(2, generator=gen), torch.randn(2, 120, generator=gen)
    prior = SimpleNamespace(dim_z=3, generator=lambda z: (z @ A).reshape(-1, 1, 1, 2),
                            critic=lambda x: x.flatten(1) @ w)
    ctx = AttackContext(target=SimpleNamespace(logits=lambda x: x.flatten(1) @ B), public=None,
                        budget=AttackBudget(classes=tuple(range(120)), per_class=1, seeds=1), image_shape=(1, 1, 2),
                        num_classes=120, device=torch.device("cpu"), seed=0, artifact=None,
                        prior=lambda name: prior)
    attack = LOMMAGMI({"augment": False, "reg_coef": 0.0, "lr": 0.01, "clip": 100.0})
    inversion = Inversion(attack, ctx)
    z0 = inversion.z.clone()
    inversion.step()
    grad = -100.0 * (A @ B).T - A @ w  # row y: the gradient of a latent attacking class y
    assert torch.allclose(inversion.z, z0 - 1.9 * 0.01 * grad / 60, rtol=1e-5, atol=1e-6)


def options(tmp_path):
    return RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False)


def test_the_surrogates_are_keyed_by_the_target_and_shared_by_seeds_and_attacks(tmp_path):
    first = Pipeline(resolve("tiny", "none", "lomma-gmi", "quick"), options(tmp_path)).run()
    assert first.cache["built"].count("priors") == 2  # the public WGAN and the surrogates
    assert "prior:lomma-surrogates" in first.timings and first.attack_queries > 0
    again = Pipeline(resolve("tiny", "none", "lomma-gmi", "quick", seed=1), options(tmp_path)).run()
    assert "priors" in again.cache["reused"] and "priors" not in again.cache["built"]
    # the surrogates' and p_reg's queries count in every run that uses them: the same total, cold or warm
    assert again.attack_queries == first.attack_queries
    kedmi = Pipeline(resolve("tiny", "none", "lomma-kedmi", "quick"), options(tmp_path)).run()
    assert kedmi.cache["built"].count("priors") == 1  # its GAN; the surrogates are the target's, not the attack's
    other = Pipeline(resolve("tiny", "calor", "lomma-gmi", "quick"), options(tmp_path)).run()
    assert other.cache["built"].count("priors") == 1  # another target: other surrogates; the WGAN is shared


@pytest.mark.parametrize("attack", ["lomma-gmi", "lomma-kedmi"])
def test_each_lomma_attack_runs_end_to_end(attack, tmp_path):
    record = Pipeline(resolve("tiny", "none", attack, "quick"), options(tmp_path)).run()
    assert {p["name"]: p["scope"] for p in record.components["priors"]}["lomma-surrogates"] == "target"
    assert 0.0 <= record.metrics["attack_acc_top1"] <= 1.0
    assert record.spec["attack_params"]["reg_coef"] == 1.0


@pytest.mark.parametrize("lomma,base", [("lomma-gmi", "gmi"), ("lomma-kedmi", "kedmi")])
def test_with_its_changes_off_lomma_is_its_base_attack_to_the_bit(lomma, base, tmp_path):
    off = {"logit_loss": "false", "augment": "false", "reg_coef": "0"}
    if lomma == "lomma-gmi":
        off["batch_identities"] = "100"  # GMI's default divisor (LOMMA's GMI divides by 60)
    images = {}
    for name, overrides in ((lomma, {"attack": off}), (base, {})):
        pipe = Pipeline(resolve("tiny", "none", name, "quick", overrides=overrides), options(tmp_path))
        pipe.configure()
        recon, queries = pipe.reconstruct(pipe.prepare())
        images[name] = (recon.images, queries)
    assert torch.equal(images[lomma][0], images[base][0]) and images[lomma][1] == images[base][1]
