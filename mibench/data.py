"""Image sets and their roles in the threat model (docs/layout.md, data flow: DataRoles).

``DataRoles`` holds private_train, private_test and public, and the judge's own training and test
sets (``evaluator_train`` / ``evaluator_test``; by default the private ones). Private data and the
judge's data are readable by the trainer, the defenses and the evaluators only: inside
:func:`attack_stage` any read of them raises :class:`PrivateDataAccessError`. A defense may train
on the public role with its labels (transfer learning does). An attack never receives a
``DataRoles``; it receives :class:`PublicImages`, the public images without their labels.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from dataclasses import dataclass, field

import torch

from .errors import PrivateDataAccessError

_IN_ATTACK = contextvars.ContextVar("mibench_in_attack_stage", default=False)


@contextlib.contextmanager
def attack_stage():
    """Mark the code inside as attack code: private data becomes unreadable."""
    token = _IN_ATTACK.set(True)
    try:
        yield
    finally:
        _IN_ATTACK.reset(token)


UNLABELLED = -1
"""The label of every image of a public set that comes without classes (FFHQ): defenses that train
on public labels (TL) refuse such a set."""


@dataclass
class ImageSet:
    """Images N x C x H x W, float32 in [0, 1] or uint8 (0-255, how large suites keep them in
    memory; consumers convert each batch on the device with :func:`mibench.tensors.as_float`), with
    integer class labels."""

    images: torch.Tensor
    labels: torch.Tensor
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.images.dtype not in (torch.float32, torch.uint8) or self.images.dim() != 4:
            raise ValueError(f"images must be float32 or uint8 N x C x H x W, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def classes(self) -> list[int]:
        return sorted(set(self.labels.tolist()))

    def select(self, mask: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[mask], self.labels[mask])

    def fingerprint(self) -> str:
        """SHA-256 of the pixels and labels: part of every cache key that depends on this data."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(str(tuple(self.images.shape)).encode())
            h.update(self.images.contiguous().numpy())  # the buffer itself: no copy of a large set
            h.update(self.labels.to(torch.int64).contiguous().numpy())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


@dataclass
class PublicImages:
    """What an attacker gets of the public data set: images only (public data is unlabelled)."""

    images: torch.Tensor
    fingerprint: str

    def __len__(self) -> int:
        return len(self.images)


class DataRoles:
    """The three data roles of a suite, with private data guarded against attack code."""

    def __init__(self, private_train: ImageSet, private_test: ImageSet, public: ImageSet,
                 evaluator_train: ImageSet | None = None, evaluator_test: ImageSet | None = None):
        self._private_train = private_train
        self._private_test = private_test
        self._public = public
        self._evaluator_train = evaluator_train if evaluator_train is not None else private_train
        self._evaluator_test = evaluator_test if evaluator_test is not None else private_test

    def _private(self, role: str) -> ImageSet:
        if _IN_ATTACK.get():
            raise PrivateDataAccessError(f"attack code tried to read {role}: attacks may use public data only")
        return getattr(self, f"_{role}")

    @property
    def private_train(self) -> ImageSet:
        return self._private("private_train")

    @property
    def private_test(self) -> ImageSet:
        return self._private("private_test")

    @property
    def evaluator_train(self) -> ImageSet:
        """The judge's training set: every class the judge can answer (it may include public classes)."""
        return self._private("evaluator_train")

    @property
    def evaluator_test(self) -> ImageSet:
        return self._private("evaluator_test")

    @property
    def public(self) -> ImageSet:
        return self._public

    def public_images(self) -> PublicImages:
        return PublicImages(self._public.images, self._public.fingerprint())

    def fingerprint(self) -> str:
        parts = [self._private(r) for r in ("private_train", "private_test", "evaluator_train", "evaluator_test")]
        parts.append(self._public)
        return hashlib.sha256("".join(p.fingerprint() for p in parts).encode()).hexdigest()

    def summary(self) -> dict[str, int]:
        return {"private_train": len(self._private_train), "private_test": len(self._private_test),
                "public": len(self._public), "evaluator_train": len(self._evaluator_train),
                "evaluator_test": len(self._evaluator_test)}
