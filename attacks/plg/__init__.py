"""PLG-MI: Pseudo Label-Guided Model Inversion (Yuan et al., AAAI 2023).

Code: github.com/LetheSec/PLG-MI-Attack. White-box. Three stages (docs/protocol-card.md, ``attacks.plg``):

1. Pseudo-labels: the target scores every public image; for each class k the ``top_n`` images with
   the highest softmax probability p_k are kept with label k (an image may serve several classes).
2. Conditional GAN on those images (:mod:`.networks`: the official ResNet generator and SNResNet
   projection discriminator): hinge loss; the generator loss adds
   ``alpha * max_margin(T(aug(G(z, y))), y)`` with ``max_margin = -l_y + max_{j != y} l_j``
   (PLG-MI eq. 5), alpha = 0.2; Adam 2e-4, betas (0, 0.9), batch 64, ``n_dis`` = 5 discriminator
   steps per generator step (the generator step first, as in SNGAN). Real images are in [0, 1]
   with U(0, 1/256) dequantisation noise (``train_cgan.py:167-200``: ``ToTensor`` then
   ``_noise_adder``), and the generator's tanh output is used as it comes, as an image (the target,
   the augmentation and the saved reconstructions all take ``G(z, y)`` itself): the real images
   teach it [0, 1], and a digit's black background is tanh(0), not a saturated -1. ``aug`` is the
   official kornia pipeline of ``train_cgan.py:250-255``
   (:mod:`.augment`: crop, colour jitter with p = 0.5, flip, rotation with p = 0.5). The GAN
   depends on the target, so it is trained per target and cached under the target's key.
   Learning rate: constant (PLG-MI does not decay it). With alpha = 0 (a suite's control row) the
   generator step neither queries nor follows the target.
3. Inversion: for each (class, seed, image) an independent z ~ N(0, I) is optimised with Adam
   (lr 0.1, 600 steps) on the sum over ``inversion_views`` = 2 augmented views of the
   max-margin loss; the views follow ``reconstruct.py:66-71`` (colour jitter always, p = 1.0;
   rotation p = 0.5). All classes and seeds are optimised in one batch. The generator is in eval
   mode. The reconstructions are ``G(z, y)``, clamped to [0, 1] as every attack's.

The generator and the discriminator run in the channels-last memory format (same math; on two
CPU cores a generator forward and backward of 64 images takes 0.045 s instead of 0.064 s at the
mnist suite's sizes).

Version 4 (issue 22): the augmentation probabilities and the random jitter order of kornia 0.6.6,
the official discriminator blocks (hidden width = input width, five downsampling blocks), the
official generator (four bilinear up-blocks from 16 x width features, 1x1 output convolution) and
both networks' official initialisation. Version 3's GANs are not reused (artifacts are keyed by the
version).

Version 5: the official data range. Version 4 put real images in [-1, 1] and read images as
``(G(z, y) + 1) / 2``, so an MNIST background had to be a saturated tanh; at the suite's width 8 its
generator collapsed (the control's GAN drew one 6 or a grey square per class whatever z; 60-100 % of
the board's PLG-MI reconstructions had a bright background: docs/protocol-card.md, known deviations).
"""

from __future__ import annotations

import torch
from dataclasses import dataclass

from mibench.access import Access, WhiteBox
from mibench.attack import Attack, AttackContext, Reconstructions
from mibench.chunks import ChunkedGradient, map_rows
from mibench.claims import Stronger
from mibench.components import param, params_dict
from mibench.hotloops import HotLoop
from mibench.progress import progress
from mibench.tensors import as_float, cpu_state
from mibench.training import check_finite

from . import augment
from .losses import hinge_discriminator, hinge_generator, max_margin
from .networks import Generator, ProjectionDiscriminator


def top_n_pseudo_labels(target: WhiteBox, images: torch.Tensor, top_n: int, device: torch.device,
                        batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into ``images`` and their pseudo-labels: the ``top_n`` most probable per class."""

    def score(x: torch.Tensor) -> torch.Tensor:
        return target.logits(as_float(x.to(device))).softmax(1).cpu()

    parts = []
    with torch.no_grad(), progress("plg: pseudo-labels", -(-len(images) // batch_size)) as advance:
        for i in range(0, len(images), batch_size):
            parts.append(map_rows(score, images[i:i + batch_size], images.shape[1:], device))
            advance()
    probs = torch.cat(parts)
    n = min(top_n, len(images))
    index = probs.topk(n, dim=0).indices.T  # num_classes x n
    labels = torch.arange(probs.shape[1])[:, None].expand_as(index)
    return index.reshape(-1), labels.reshape(-1)


class PLGMI(Attack):
    name = "plg"
    version = "5"
    paper = "Yuan et al., Pseudo Label-Guided Model Inversion Attack via Conditional GAN, AAAI 2023"
    code = "https://github.com/LetheSec/PLG-MI-Attack"
    claims = (Stronger("kedmi", "PLG-MI recovers more private classes than KED-MI"),)
    access = Access.WHITE_BOX

    @dataclass(frozen=True)
    class Params:
        top_n: int = param(30, min=1, help="pseudo-labelled public images kept per class")
        gan_width: int = param(64, min=1)
        dim_z: int = param(128, min=1)
        gan_iterations: int = param(30000, budget="iterations", min=1)
        n_dis: int = param(5, min=1)
        batch_size: int = param(64, min=1)
        gan_lr: float = param(2e-4, min=0.0)
        gan_betas: tuple[float, float] = (0.0, 0.9)
        alpha: float = param(0.2, min=0.0, help="weight of the max-margin term in the generator loss")
        inversion_steps: int = param(600, budget="steps")
        inversion_lr: float = param(0.1, min=0.0)
        inversion_views: int = param(2, min=1)
        hflip: bool = True

    # stage 1 + 2 ------------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """The GAN stage's augmentation (``train_cgan.py:250-255``: colour jitter with p = 0.5)."""
        return augment.augment(x, hflip=self.params.hflip, jitter_p=augment.GAN_JITTER_P)

    def pseudo_labels(self, ctx: AttackContext) -> dict[str, torch.Tensor]:
        """Stage 1, cached under the target's key: it does not depend on the run seed, so every seed
        of a row shares it (its target queries still count in each run)."""
        return ctx.artifact("plg-pseudo-labels", {"top_n": self.params.top_n}, lambda: dict(zip(
            ("index", "labels"), top_n_pseudo_labels(ctx.target, ctx.public.images, self.params.top_n, ctx.device))))

    def gan_trainer(self, ctx: AttackContext) -> "GanTrainer":
        pseudo = self.pseudo_labels(ctx)
        real_x = as_float(ctx.public.images[pseudo["index"]])  # [0, 1], as the official ToTensor
        return GanTrainer(self, ctx, real_x.to(ctx.device), pseudo["labels"].to(ctx.device))

    def train_gan(self, ctx: AttackContext) -> dict:
        torch.manual_seed(ctx.seed)
        trainer = self.gan_trainer(ctx)
        with progress("plg: conditional GAN", self.params.gan_iterations) as advance:
            for it in range(self.params.gan_iterations):
                losses = trainer.step()
                check_finite(list(losses.values()), "attack plg, stage conditional GAN", it)
                advance(**losses)
        return {"generator": cpu_state(trainer.G),
                "pseudo_labels": trainer.real_y.cpu()}

    # stage 3 ------------------------------------------------------------------------------------
    def inverter(self, ctx: AttackContext, G: Generator) -> "Inverter":
        labels, seeds = ctx.budget.labels_and_seeds()
        per_seed = len(ctx.budget.classes) * ctx.budget.per_class
        z = torch.cat([torch.randn(per_seed, self.params.dim_z, generator=ctx.latent_generator(s))
                       for s in range(ctx.budget.seeds)])
        return Inverter(self, ctx, G, z, labels, seeds)

    def invert(self, ctx: AttackContext, G: Generator) -> Reconstructions:
        inverter = self.inverter(ctx, G)
        torch.manual_seed(ctx.seed)
        with progress("plg: inversion", self.params.inversion_steps) as advance:
            for it in range(self.params.inversion_steps):
                loss = inverter.step()
                check_finite(loss, "attack plg, stage inversion", it)
                advance(loss=loss)
        return inverter.result()

    def run(self, ctx: AttackContext) -> Reconstructions:
        gan_config = {k: v for k, v in params_dict(self.params).items()
                      if k not in ("inversion_steps", "inversion_lr", "inversion_views")}
        artifact = ctx.artifact("plg-gan", {"params": gan_config, "seed": ctx.seed}, lambda: self.train_gan(ctx))
        G = Generator(ctx.num_classes, ctx.image_shape, self.params.gan_width, self.params.dim_z)
        G.load_state_dict(artifact["generator"])
        G = G.to(ctx.device, memory_format=torch.channels_last)
        return self.invert(ctx, G)

    def hot_loops(self, ctx: AttackContext) -> dict[str, HotLoop]:
        """``GAN step``: one generator step and ``n_dis`` discriminator steps of stage 2
        (:class:`GanTrainer` on the public images' pseudo-labels; items: the batch); ``inversion
        step``: one Adam step of every latent of the budget (:class:`Inverter`)."""
        p = self.params
        G = Generator(ctx.num_classes, ctx.image_shape, p.gan_width, p.dim_z).to(ctx.device,
                                                                               memory_format=torch.channels_last)
        inverter = self.inverter(ctx, G)
        return {"GAN step": HotLoop(self.gan_trainer(ctx).step, p.batch_size),
                "inversion step": HotLoop(inverter.step, len(inverter.z))}


class GanTrainer:
    """PLG-MI stage 2: one :meth:`step` is a generator step followed by ``n_dis`` discriminator steps."""

    def __init__(self, attack: PLGMI, ctx: AttackContext, real_x: torch.Tensor, real_y: torch.Tensor):
        p, dev = attack.params, ctx.device
        self.p, self.ctx, self.augment = p, ctx, attack._augment
        self.real_x, self.real_y = real_x.contiguous(memory_format=torch.channels_last), real_y
        self.G = Generator(ctx.num_classes, ctx.image_shape, p.gan_width, p.dim_z).to(dev, memory_format=torch.channels_last)
        self.D = ProjectionDiscriminator(ctx.num_classes, ctx.image_shape, p.gan_width).to(
            dev, memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), p.gan_lr, betas=tuple(p.gan_betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), p.gan_lr, betas=tuple(p.gan_betas))

    def _fake(self) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.ctx.device
        y = torch.randint(0, self.ctx.num_classes, (self.p.batch_size,), device=dev)
        return self.G(torch.randn(self.p.batch_size, self.p.dim_z, device=dev), y), y

    def step(self) -> dict[str, float]:
        fake, y = self._fake()
        loss_g = hinge_generator(self.D(fake, y))
        margin = torch.zeros(())
        if self.p.alpha > 0:  # alpha = 0 (the control row): the GAN neither queries nor follows the target
            margin = max_margin(self.ctx.target.logits(self.augment(fake)), y).mean()
            loss_g = loss_g + self.p.alpha * margin
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        for _ in range(self.p.n_dis):
            with torch.no_grad():
                fake, y = self._fake()
            pick = torch.randint(0, len(self.real_x), (self.p.batch_size,), device=self.ctx.device)
            real = self.real_x[pick] + torch.rand_like(self.real_x[pick]) / 256  # _noise_adder: U(0, 1/256)
            loss_d = hinge_discriminator(self.D(real, self.real_y[pick]), self.D(fake, y))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "margin": margin.item()}


class Inverter:
    """PLG-MI stage 3: Adam on all latents at once; one :meth:`step` is one update of every latent
    (in chunks only where the device's memory needs them: :class:`~mibench.chunks.ChunkedGradient`)."""

    def __init__(self, attack: PLGMI, ctx: AttackContext, G: Generator, z: torch.Tensor, labels: torch.Tensor,
                 seeds: torch.Tensor):
        self.p, self.ctx = attack.params, ctx
        self.G = G.eval().requires_grad_(False)
        self.z = z.to(ctx.device).requires_grad_(True)
        self.y, self.labels, self.seeds = labels.to(ctx.device), labels, seeds
        self.opt = torch.optim.Adam([self.z], lr=self.p.inversion_lr)
        self.gradient = ChunkedGradient(len(self.z))

    def images(self, rows: slice = slice(None)) -> torch.Tensor:
        return self.G(self.z[rows], self.y[rows])  # as the official reconstruct.py: no rescaling

    def step(self) -> float:
        size = (self.ctx.image_shape[1], self.ctx.image_shape[2])
        views = [augment.draw(len(self.z), size, self.z.device, hflip=self.p.hflip, jitter_p=augment.INVERSION_JITTER_P)
                 for _ in range(self.p.inversion_views)]  # reconstruct.py:66-71: jitter always

        def loss_of(rows: slice) -> torch.Tensor:
            x = self.images(rows)
            return sum(max_margin(self.ctx.target.logits(augment.apply(x, view, rows)), self.y[rows]) for view in views)

        # a sum: each latent's gradient is independent of the batch
        (self.z.grad,), loss = self.gradient(loss_of, lambda chunk, rows: chunk.sum(), [self.z])
        self.opt.step()
        return loss.mean().item()

    def result(self) -> Reconstructions:
        with torch.no_grad():
            return Reconstructions(self.images(), self.labels, self.seeds)
