"""The ``celeba64`` suite: the field's main low-resolution benchmark (docs/protocol-card.md, suite celeba64; GPU scale).

Data roles, from the field's split files (GMI, KED-MI, PLG-MI, MIBench; shipped with mibench in
``celeba_split/`` and checked against their SHA-256 before use):
- private_train: 27,018 images of the 1,000 most frequent CelebA identities (labels 0-999);
- private_test: 3,009 images of the same identities;
- public: 30,000 images of 6,453 other identities (their labels serve TL's pre-training only;
  attacks get the images without labels). ``--set suite.public=ffhq`` or ``facescrub`` replaces it
  by FFHQ (thumbnails, centre crop 88, resize 64; unlabelled, so TL refuses it) or FaceScrub (a
  user folder of face images, one folder per identity, which gives the labels).
The user brings the images: ``--data-root DIR`` holding CelebA's aligned images as distributed
(``DIR/img_align_celeba/000001.jpg`` ...) or in torchvision's layout
(``DIR/celeba/img_align_celeba/``); FFHQ as ``DIR/thumbnails128x128/**/*.png``; FaceScrub as
``DIR/facescrub/<identity>/*.jpg``. Preprocessing as the field: centre crop 108 of the 178 x 218
aligned image (rows 55-162, columns 35-142), bilinear resize to 64 x 64 (PIL). The images are
decoded once and kept as uint8 in a ``.npy`` file in the run's cache (``--cache-dir``),
memory-mapped on later loads and keyed by the split files, the preprocessing and each image file's
name, size and modification time; batches go to the device as uint8 and are converted there.

Targets (``--set suite.target=``): ``ir152`` (IR-152, the default; MIBench's board model),
``vgg16`` (VGG16-BN) or ``facenet64`` (IR-50 at 64 px); judge: FaceNet112 (IR-50 at 112 px, the
64-px images resized inside the model). ``--weights target=FILE`` / ``--weights evaluator=FILE``
import the published checkpoints (:mod:`mibench.checkpoints`); without them both are trained from
scratch with MIBench's recipe (SGD 0.01, momentum 0.9, weight decay 1e-4), without the MS-Celeb-1M
(IR) or ImageNet (VGG16) pre-training of the published models: each record's profile notes say so.
Attack budget (``full``): identities 0-299 x 5 seeds x 1 image (PLG-MI, KED-MI, LOMMA).
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..attack import AttackBudget
from ..cache import Cache, atomic_write_bytes
from ..components import param
from ..data import UNLABELLED, DataRoles, ImageSet
from ..errors import DataSourceError
from ..suite import Profile, Suite
from ..training import TrainRecipe

SPLIT_DIR = Path(__file__).parent / "celeba_split"
ROLES = ("private_train", "private_test", "public")
CELEBA_SIZE = (178, 218)  # width, height of img_align_celeba
CELEBA_CROP = (35, 55, 143, 163)  # left, top, right, bottom: the centre 108 x 108
FFHQ_CROP = 88
SIDE = 64
TARGETS = {"ir152": "ir152_64", "vgg16": "vgg16_bn_64", "facenet64": "facenet64"}
PREPROCESS_VERSION = "1"

RECIPE = TrainRecipe(epochs=100, batch_size=64, lr=0.01, momentum=0.9, weight_decay=1e-4, lr_milestones=(0.5, 0.75))
"""MIBench's classifier recipe (SGD 0.01, momentum 0.9, weight decay 1e-4, 100 epochs); mibench
adds two x0.1 steps where MIBench keeps the best test epoch (a selection on the test set)."""

NOTES = {
    "targets": "trained from scratch unless --weights target=FILE imports a published file: the published IR-152 "
               "and FaceNet64 start from MS-Celeb-1M (face.evoLVe) and VGG16 from ImageNet, absent here",
    "evaluator": "FaceNet112 trained on private_train at 64 px resized to 112 inside the model, unless --weights "
                 "evaluator=FILE imports the field's (FaceNet_95.88.tar or MIBench's celeba112_facenet112_97.72.pth); "
                 "the field trains it on 112-px crops",
}


def read_split(role: str, split_dir: Path = SPLIT_DIR) -> list[tuple[str, int]]:
    """``(file name, label)`` per line of ``<split_dir>/<role>.txt``, checked against ``SHA256SUMS``."""
    path, sums = split_dir / f"{role}.txt", split_dir / "SHA256SUMS"
    if not path.is_file() or not sums.is_file():
        raise DataSourceError(f"split folder {split_dir} lacks {path.name if not path.is_file() else sums.name}: it "
                              f"must hold private_train.txt, private_test.txt, public.txt and their SHA256SUMS")
    pinned = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    data = path.read_bytes()
    if pinned.get(path.name) != hashlib.sha256(data).hexdigest():
        raise DataSourceError(f"{path} does not match its SHA-256 in {sums} ({hashlib.sha256(data).hexdigest()} vs "
                              f"{pinned.get(path.name)}): restore the split file (reinstall mibench for the shipped one)")
    rows = []
    for n, line in enumerate(data.decode().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataSourceError(f"{path}, line {n}: expected 'FILE LABEL', got {line!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


def celeba_folder(root: Path, first: str) -> Path:
    """The folder of the aligned images under ``root`` (as distributed, torchvision's layout, or root itself)."""
    candidates = [root / "img_align_celeba", root / "celeba" / "img_align_celeba", root]
    for folder in candidates:
        if (folder / first).is_file():
            return folder
    raise DataSourceError(
        f"--data-root {root} holds no CelebA aligned images ({first} not found in {', '.join(map(str, candidates))}). "
        f"Unzip img_align_celeba.zip (CelebA's 'Align&Cropped Images', 178 x 218 JPEGs) there, so that "
        f"{root / 'img_align_celeba' / first} exists, or use torchvision's layout {root}/celeba/img_align_celeba/")


def _decode(path: Path, box: tuple[int, int, int, int], size: tuple[int, int] | None) -> np.ndarray | str:
    """One image as uint8 3 x 64 x 64, or an error string (wrong size, unreadable)."""
    try:
        with Image.open(path) as img:
            if size is not None and img.size != size:
                return f"{path.name} is {img.size[0]} x {img.size[1]}"
            out = img.convert("RGB").crop(box).resize((SIDE, SIDE), Image.BILINEAR)
    except OSError as exc:
        return f"{path.name} cannot be read ({exc})"
    return np.asarray(out, dtype=np.uint8).transpose(2, 0, 1)


def decode_all(paths: list[Path], box_of, size: tuple[int, int] | None, what: str, fix: str) -> np.ndarray:
    """Decode ``paths`` on a thread pool (PIL releases the GIL) into one N x 3 x 64 x 64 uint8 array."""
    out = np.empty((len(paths), 3, SIDE, SIDE), dtype=np.uint8)
    errors = []
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        for i, res in enumerate(pool.map(lambda p: _decode(p, box_of(p), size), paths, chunksize=64)):
            if isinstance(res, str):
                errors.append(res)
            else:
                out[i] = res
    if errors:
        raise DataSourceError(f"{len(errors)} of the {len(paths)} {what} cannot be used ({'; '.join(errors[:5])}"
                              f"{'; ...' if len(errors) > 5 else ''}). {fix}")
    return out


def cached_array(cache: Cache, name: str, paths: list[Path], recipe: str, build) -> np.ndarray:
    """``build()``'s uint8 array, stored once as ``<cache root>/data/<name>-<key>.npy`` (atomic write) and
    memory-mapped afterwards; the key covers ``recipe``, the folder and each file's name, size and mtime."""
    h = hashlib.sha256(f"{PREPROCESS_VERSION}|{recipe}|{paths[0].parent.resolve() if paths else ''}".encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    path = cache.root / "data" / f"{name}-{h.hexdigest()[:24]}.npy"
    if not path.is_file():
        buf = io.BytesIO()
        np.save(buf, build())
        atomic_write_bytes(path, buf.getbuffer())
    return np.load(path, mmap_mode="c")  # copy-on-write: pages are read on demand, the file is never written


def _images(array: np.ndarray, rows: slice) -> torch.Tensor:
    """A role's rows of the memory-mapped array as a uint8 tensor, without a copy."""
    return torch.from_numpy(array[rows])


def folder_images(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted(p for pattern in patterns for p in folder.glob(pattern) if p.is_file())


class CelebA64Suite(Suite):
    name = "celeba64"
    version = "1"
    paper = "Zhang et al., GMI (CVPR 2020); Chen et al., KED-MI (ICCV 2021); Yuan et al., PLG-MI (AAAI 2023); MIBench"
    code = "https://github.com/ffhibnese/Model-Inversion-Attack-ToolBox"
    image_shape = (3, SIDE, SIDE)
    num_classes = 1000
    target_arch = TARGETS["ir152"]  # the default; `--set suite.target=` chooses (see __init__)
    evaluator_arch = "facenet112"
    evaluator_recipe = RECIPE
    evaluators = ("accuracy", "knn", "fid", "facenet_dist", "lpips")
    threads = 2  # a GPU suite: the CPU threads only feed the device

    @dataclass(frozen=True)
    class Params:
        target: str = param("ir152", choices=tuple(TARGETS), help="target architecture")
        public: str = param("celeba", choices=("celeba", "ffhq", "facescrub"), help="the public data set")
        split: str = param("", help="folder with the split files (default: the field's, shipped with mibench)")

    profiles = {
        "full": Profile(
            description="the field's protocol: 300 identities x 5 seeds, the papers' budgets",
            budget=AttackBudget(classes=tuple(range(300)), per_class=1, seeds=5),
            target=RECIPE, notes={"budget": "identities 0-299 x 5 seeds x 1 image (PLG-MI, KED-MI, LOMMA)", **NOTES},
        ),
        "quick": Profile(
            description="a GPU smoke test: minutes, numbers not comparable with full",
            budget=AttackBudget(classes=tuple(range(10)), per_class=1, seeds=2),
            target=RECIPE.replace(epochs=2), budget_scale={"epochs": 0.02, "iterations": 1 / 100, "steps": 1 / 10},
            notes={"budget": "identities 0-9 x 2 seeds; targets 2 epochs; budgets x 1/100 (iterations), "
                             "x 1/10 (steps), x 0.02 (epochs)", **NOTES},
        ),
        "tiny": Profile(
            description="a CPU test of the whole pipeline on a small folder (tests/test_celeba64.py); meaningless numbers",
            budget=AttackBudget(classes=(0, 1), per_class=1, seeds=2),
            target=RECIPE.replace(epochs=1, batch_size=8),
            budget_scale={"epochs": 0.01, "iterations": 1 / 10000, "steps": 1 / 300},
            components={"attacks.plg": {"top_n": 4, "gan_width": 4, "n_dis": 1, "batch_size": 4}},
            notes={"budget": "identities 0-1 x 2 seeds on a synthetic folder; every budget at its minimum"},
        ),
    }

    def __init__(self, data_root=None, params=None):
        super().__init__(data_root, params)
        self.target_arch = TARGETS[self.params.target]
        self.split_dir = Path(self.params.split).expanduser() if self.params.split else SPLIT_DIR

    def source(self) -> str:
        if self.data_root is None:
            raise DataSourceError(
                "celeba64 needs the CelebA images: pass --data-root DIR where DIR/img_align_celeba/ holds CelebA's "
                "aligned 178 x 218 JPEGs (img_align_celeba.zip from the CelebA site, unzipped)")
        if not self.data_root.is_dir():
            raise DataSourceError(f"--data-root {self.data_root} does not exist: create it and unzip "
                                  f"img_align_celeba.zip there")
        return f"celeba:{self.data_root} split:{self.split_dir} public:{self.params.public}"

    def load(self, cache: Cache | None = None) -> DataRoles:
        self.source()
        cache = cache or Cache()
        splits = {role: read_split(role, self.split_dir) for role in ROLES}
        roles = ROLES if self.params.public == "celeba" else ROLES[:2]
        names = [name for role in roles for name, _ in splits[role]]
        folder = celeba_folder(self.data_root, names[0])
        paths = [folder / n for n in names]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DataSourceError(f"{len(missing)} of the {len(paths)} images the split needs are missing from "
                                  f"{folder} (e.g. {', '.join(missing[:5])}): unzip the complete img_align_celeba.zip "
                                  f"(202,599 images) there")
        box = lambda p: CELEBA_CROP  # noqa: E731 - every CelebA image has the same crop
        array = cached_array(cache, "celeba64", paths, f"celeba crop {CELEBA_CROP} resize {SIDE}", lambda: decode_all(
            paths, box, CELEBA_SIZE, "CelebA images",
            f"img_align_celeba holds 178 x 218 JPEGs: replace {folder} with the aligned images as distributed"))
        sets, start = {}, 0
        for role in roles:
            n = len(splits[role])
            labels = torch.tensor([label for _, label in splits[role]], dtype=torch.long)
            sets[role] = ImageSet(_images(array, slice(start, start + n)), labels)
            start += n
        public = sets["public"] if self.params.public == "celeba" else self._other_public(cache)
        return DataRoles(private_train=sets["private_train"], private_test=sets["private_test"], public=public)

    def _other_public(self, cache: Cache) -> ImageSet:
        """FFHQ (unlabelled: every label is :data:`UNLABELLED`) or FaceScrub (labelled by its identity
        folders, in sorted order) as the public role."""
        if self.params.public == "ffhq":
            folder, patterns = self.data_root / "thumbnails128x128", ("*.png", "*/*.png")
            layout = f"{folder}/ with FFHQ's 128 x 128 thumbnails (thumbnails128x128/00000/00000.png ...)"
        else:
            folder, patterns = self.data_root / "facescrub", ("*/*.jpg", "*/*.jpeg", "*/*.png")
            layout = f"{folder}/<identity>/ with FaceScrub's face images"
        paths = folder_images(folder, patterns) if folder.is_dir() else []
        if not paths:
            raise DataSourceError(f"--set suite.public={self.params.public}: no images found; put {layout}")

        def box(path: Path) -> tuple[int, int, int, int]:
            if self.params.public == "ffhq":  # the centre 88 x 88 of the 128 x 128 thumbnail
                off = (128 - FFHQ_CROP) // 2
                return (off, off, off + FFHQ_CROP, off + FFHQ_CROP)
            with Image.open(path) as img:  # FaceScrub: the centre square
                w, h = img.size
            s = min(w, h)
            return ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)

        size = (128, 128) if self.params.public == "ffhq" else None
        array = cached_array(cache, self.params.public, paths, f"{self.params.public} resize {SIDE}", lambda: decode_all(
            paths, box, size, f"{self.params.public} images", f"put {layout}"))
        if self.params.public == "ffhq":
            labels = torch.full((len(paths),), UNLABELLED, dtype=torch.long)
        else:
            identities = {name: i for i, name in enumerate(sorted({p.parent.name for p in paths}))}
            labels = torch.tensor([identities[p.parent.name] for p in paths], dtype=torch.long)
        return ImageSet(_images(array, slice(None)), labels)
