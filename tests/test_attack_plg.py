"""PLG-MI's stage 1 (pseudo-labels) is cached under the target's key: the seeds of a row share it,
and a run's target queries are the same whether it built the pseudo-labels or reused them."""

from mibench.attacks import plg
from mibench.runner import RunOptions, run
from mibench.spec import resolve


def test_the_seeds_of_a_row_share_the_pseudo_labels_and_count_the_same_queries(tmp_path, monkeypatch):
    built = []
    score = plg.top_n_pseudo_labels
    monkeypatch.setattr(plg, "top_n_pseudo_labels", lambda *a, **k: built.append(1) or score(*a, **k))

    def run_seed(seed, cache):
        return run(resolve("tiny", "none", "plg", "quick", seed=seed),
                   RunOptions(device="cpu", out=tmp_path / "runs", cache_root=tmp_path / cache, write_leaderboard=False))

    run_seed(0, "shared")
    warm = run_seed(1, "shared")
    assert len(built) == 1  # the second seed reused the first seed's pseudo-labels
    cold = run_seed(1, "cold")
    assert len(built) == 2 and warm.attack_queries == cold.attack_queries > 0
    assert warm.metrics == cold.metrics


def test_a_runs_record_times_each_stage_of_its_attack(tmp_path):
    record = run(resolve("tiny", "none", "plg", "quick"),
                 RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False))
    stages = {k: v for k, v in record.timings.items() if k.startswith("attack/")}
    assert set(stages) == {"attack/plg: pseudo-labels", "attack/plg: conditional GAN", "attack/plg: inversion"}
    assert 0 < sum(stages.values()) <= record.timings["attack"]


# issue 22: PLG-MI's augmentations and networks follow the official code (kornia 0.6.6, resblocks.py)

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from mibench.attacks.plg import augment
from mibench.attacks.plg.networks import Generator, GeneratorBlock, ProjectionDiscriminator


def _corner_drop(x: torch.Tensor) -> torch.Tensor:
    """Per image: whether a corner is darker than the centre (rotation pads with zeros)."""
    corners = torch.stack([x[..., 0, 0], x[..., 0, -1], x[..., -1, 0], x[..., -1, -1]], -1).amin((-1, -2))
    return corners < x[..., x.shape[-2] // 2, x.shape[-1] // 2].amin(-1) - 1e-4


def test_the_gan_stage_rotates_and_jitters_about_half_the_images():
    """train_cgan.py:250-255: RandomRotation(5) with kornia's default p = 0.5, ColorJitter p = 0.5."""
    attack = plg.PLGMI()
    torch.manual_seed(0)
    x = torch.full((4000, 1, 32, 32), 0.5)
    out = attack._augment(x)
    rotated = _corner_drop(out).float().mean().item()
    jittered = ((out[..., 16, 16] - 0.5).abs() > 1e-6).float().mean().item()
    assert 0.46 < rotated < 0.54 and 0.46 < jittered < 0.54
    never = augment.augment(x, rotation_p=0.0, jitter_p=0.0)
    assert not _corner_drop(never).any() and torch.allclose(never, x, atol=1e-6)  # a crop of a constant image


def test_the_inversion_views_always_jitter_and_rotate_about_half(monkeypatch):
    """reconstruct.py:66-71: ColorJitter with kornia's default p = 1.0; rotation p = 0.5."""
    views = []
    apply = augment.apply
    monkeypatch.setattr(augment, "apply", lambda x, view, rows=slice(None): views.append(view) or apply(x, view, rows))
    attack = plg.PLGMI({"inversion_views": 2})
    n, shape = 2000, (1, 32, 32)
    weight = torch.randn(32 * 32, 3)
    ctx = SimpleNamespace(device=torch.device("cpu"), image_shape=shape,
                          target=SimpleNamespace(logits=lambda x: x.flatten(1) @ weight))
    G = Generator(3, shape, width=2, dim_z=8)
    torch.manual_seed(0)
    labels, seeds = torch.randint(0, 3, (n,)), torch.zeros(n, dtype=torch.long)
    inverter = plg.Inverter(attack, ctx, G, torch.randn(n, 8), labels, seeds)
    inverter.step()
    assert len(views) == 2
    for view in views:
        assert (view["brightness"] != 1).all() and (view["contrast"] != 1).all()
        assert 0.46 < view["rotate"].float().mean().item() < 0.54


def test_the_jitter_order_is_drawn_once_per_call_and_varies_across_calls():
    """kornia draws ``randperm(4)`` once per ColorJitter call: one order for the whole batch."""
    gen = torch.Generator().manual_seed(0)
    firsts = [augment.draw(8, (32, 32), torch.device("cpu"), generator=gen)["contrast_first"] for _ in range(400)]
    assert all(f.dim() == 0 for f in firsts)
    assert 0.4 < torch.stack(firsts).float().mean().item() < 0.6


# kornia 0.6.6's ImageSequential(RandomResizedCrop((12, 12), (0.8, 1), (1, 1)), ColorJitter(0.2, 0.2),
# RandomHorizontalFlip(), RandomRotation(5)) on _pattern() under torch.manual_seed(414): its drawn
# parameters and output (order [1, 3, 2, 0]: contrast before brightness)
KORNIA_PARAMS = {"crop_h": [11.0, 11.0, 11.0], "crop_w": [11.0, 11.0, 11.0],
                 "x0": [0.0, 1.0, 0.0], "y0": [1.0, 1.0, 1.0],
                 "brightness": [1.0212764739990234, 1.0692253112792969, 0.8049505352973938],
                 "contrast": [1.157155990600586, 0.886527419090271, 1.0609360933303833],
                 "flip": [True, False, True], "rotate": [True, True, False],
                 "degrees": [-3.7832694053649902, -4.448999404907227, 0.0]}
KORNIA_SUMS = [219.35540771484375, 222.03530883789062, 168.26722717285156]
KORNIA_SQUARES = [141.1920166015625, 132.2593536376953, 86.3948745727539]
KORNIA_ROW = [0.39697396755218506, 0.6891762018203735, 0.790713906288147, 0.8798079490661621, 0.9524101614952087,
              0.99020916223526, 0.9789949059486389, 0.9130121469497681, 0.8470293283462524, 0.7670838832855225,
              0.6706840991973877, 0.5685262680053711]


def _pattern(size: int = 12) -> torch.Tensor:
    i = torch.arange(size, dtype=torch.float32)
    return torch.stack([torch.stack([0.5 + 0.45 * torch.sin(i[:, None] * (0.7 + k) + i[None, :] * (0.3 * k + 0.2) + n)
                                     for k in range(3)]) for n in range(3)])


def test_the_augmentation_reproduces_kornia_0_6_6_given_its_parameters():
    p = {k: torch.tensor(v) for k, v in KORNIA_PARAMS.items() if k != "degrees"}
    p["angle"] = torch.tensor(KORNIA_PARAMS["degrees"]) * (math.pi / 180)
    out = augment.apply(_pattern(), {**p, "contrast_first": torch.tensor(True)})
    assert torch.allclose(out.sum((1, 2, 3)), torch.tensor(KORNIA_SUMS), atol=1e-3)
    assert torch.allclose((out ** 2).sum((1, 2, 3)), torch.tensor(KORNIA_SQUARES), atol=1e-3)
    assert torch.allclose(out[0, 0, 0], torch.tensor(KORNIA_ROW), atol=1e-5)
    other_order = augment.apply(_pattern(), {**p, "contrast_first": torch.tensor(False)})
    assert (other_order - out).abs().max() > 1e-3


def test_the_augmentation_is_a_function_of_the_generator_and_chunks_change_nothing():
    x = torch.rand(10, 3, 32, 32)

    def view():
        return augment.draw(10, (32, 32), torch.device("cpu"), jitter_p=0.5, generator=torch.Generator().manual_seed(3))

    a, b = view(), view()
    assert all(torch.equal(a[k], b[k]) for k in a)
    chunked = torch.cat([augment.apply(x[r], a, r) for r in (slice(0, 4), slice(4, 10))])
    assert torch.allclose(chunked, augment.apply(x, a), atol=1e-6)


@pytest.mark.parametrize("size, final", [(32, 1), (64, 2)])
def test_the_discriminator_blocks_keep_the_input_width_and_all_downsample(size, final):
    """snresnet64.py + resblocks.py: Block's hidden width h_ch = in_ch; five blocks, each halving."""
    D = ProjectionDiscriminator(5, (3, size, size), width=4)
    widths = [4, 8, 16, 32, 64]
    assert D.blocks[0].c1.weight_orig.shape == (4, 3, 3, 3)  # the optimised first block: in -> out
    for block, cin, cout in zip(D.blocks[1:], widths, widths[1:]):
        assert block.c1.weight_orig.shape == (cin, cin, 3, 3) and block.c2.weight_orig.shape == (cout, cin, 3, 3)
    assert D.blocks(torch.zeros(2, 3, size, size)).shape == (2, 64, final, final)


def test_the_generator_has_four_bilinear_up_blocks_and_a_1x1_output_conv():
    """resnet64.py: l1 to 16 x width at bottom_width (image size / 16), block2-5, conv6 1x1;
    resblocks.py: ``_upsample`` is bilinear."""
    G = Generator(5, (1, 32, 32), width=8, dim_z=16)
    assert len(G.blocks) == 4 and G.bottom == 2 and G.fc.out_features == 16 * 8 * 2 * 2
    assert G.out_conv.kernel_size == (1, 1)
    assert G(torch.randn(3, 16), torch.arange(3)).shape == (3, 1, 32, 32)
    block = GeneratorBlock(1, 1, num_classes=1)
    with torch.no_grad():  # the residual path off, the shortcut an identity: the block is its upsampling
        block.c2.weight.zero_(), block.c2.bias.zero_(), block.skip.weight.fill_(1.0), block.skip.bias.zero_()
    x = torch.rand(2, 1, 4, 4)
    out = block(x, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(out, F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), atol=1e-6)
    assert not torch.allclose(out, F.interpolate(x, scale_factor=2), atol=1e-3)


def test_the_gan_learns_and_the_inversion_reads_images_in_the_official_range():
    """train_cgan.py:167-200 feeds D ``ToTensor`` images in [0, 1] plus U(0, 1/256); reconstruct.py and
    train_cgan.py give the target ``G(z, y)`` itself. (Version 4 rescaled both to [-1, 1]: its
    generator had to saturate tanh for a black background, and at width 8 it collapsed.)"""
    attack = plg.PLGMI({"gan_width": 2, "dim_z": 8, "batch_size": 6, "n_dis": 1})
    shape = (1, 16, 16)
    ctx = SimpleNamespace(device=torch.device("cpu"), image_shape=shape, num_classes=3,
                          target=SimpleNamespace(logits=lambda x: x.flatten(1)[:, :3]),
                          public=SimpleNamespace(images=torch.zeros(20, *shape, dtype=torch.uint8)))  # black digits
    attack.pseudo_labels = lambda ctx: {"index": torch.arange(20), "labels": torch.arange(20) % 3}
    trainer = attack.gan_trainer(ctx)
    fed = []
    D = trainer.D.forward
    trainer.D.forward = lambda x, y: fed.append(x.detach()) or D(x, y)
    torch.manual_seed(0)
    trainer.step()
    real = fed[-2]  # the discriminator step scores real, then fake
    assert 0 <= real.min() and real.max() <= 1 / 256 and real.max() > 1 / 512  # black plus U(0, 1/256)
    G = trainer.G.eval()
    z, y = torch.randn(4, 8), torch.arange(4) % 3
    inverter = plg.Inverter(attack, ctx, G, z, y, torch.zeros(4, dtype=torch.long))
    with torch.no_grad():
        raw = G(z, y)
    assert torch.equal(inverter.images(), raw)
    assert torch.equal(inverter.result().images, raw.clamp(0, 1))
