"""The contract checks: each runs one registered component end to end on the synthetic suite.

``check_defense``, ``check_attack``, ``check_prior`` and ``check_evaluator`` run the component
through the pipeline that ``mibench run`` uses, on :class:`~mibench.testing.suite.TinySuite` with its
``quick`` profile at seed 0. Each asserts the component's contract (a :class:`ContractError` names
what broke) and returns its :class:`~mibench.testing.snapshot.Snapshot`:

- a defense: its trained target's weights and natural accuracy;
- an attack (against the undefended target): its reconstructions as stored (uint8, with their
  labels and seed indices) and its target queries; the metrics are left to the evaluators' snapshots;
- a prior (built for the first attack that requests it): each entry of its cached artifact;
- an evaluator: each metric it returns, and its per-class numbers, on fixed synthetic
  reconstructions (:func:`fixed_reconstructions`), so an attack's change never moves them.

They run in :func:`snapshot_environment`: the suite's single thread, fp32, deterministic kernels,
and no external weights files (each machine computes the same). Pass ``cache_root`` to share trained
artifacts between checks (the undefended target serves every attack); without it each check
trains what it needs in a temporary folder. A cache must not outlive a change of the code: its keys
name components by version, not by code.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .. import determinism, reconstructions, stages
from ..attack import AttackBudget, Reconstructions
from ..cache import content_key
from ..components import params_dict
from ..data import DataRoles
from ..errors import ConfigError
from ..records import quantize
from ..registries import ATTACKS, DEFENSES, EVALUATORS, PRIORS
from ..runner import Pipeline, RunOptions, Timings
from ..spec import resolve
from ..tensors import cpu_state
from .snapshot import Snapshot, digest, float_environment
from .suite import TinySuite, register_tiny_suite, synthetic_images

SUITE, PROFILE, SEED = "tiny", "quick", 0
UNSET = ("MIBENCH_THREADS", "MIBENCH_FID_WEIGHTS")
"""Environment variables unset inside :func:`snapshot_environment`: another thread count, a weights file."""
EMPTIED = ("MIBENCH_ASSETS", "TORCH_HOME")
"""Where weights files are looked for besides the package: empty folders inside :func:`snapshot_environment`."""


class ContractError(AssertionError):
    """A component broke the contract every component of its kind keeps."""


@contextlib.contextmanager
def snapshot_environment(cache_root: Path | None = None) -> Iterator[Path]:
    """Registers the tiny suite, fixes the float environment (its thread count whatever
    ``$MIBENCH_THREADS`` says, fp32, deterministic kernels) and hides every weights file outside the
    package; yields a cache folder (``cache_root`` or a temporary one). Threads, precision and
    environment variables are restored on exit."""
    register_tiny_suite()
    threads, precision = torch.get_num_threads(), determinism.precision()
    saved = {key: os.environ.get(key) for key in (*UNSET, *EMPTIED)}
    with tempfile.TemporaryDirectory(prefix="mibench-snapshots-") as tmp:
        try:
            for key in UNSET:
                os.environ.pop(key, None)
            for key in EMPTIED:
                os.environ[key] = str(Path(tmp) / "empty")
            determinism.configure(TinySuite.threads, "fp32")
            yield Path(cache_root) if cache_root is not None else Path(tmp) / "cache"
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            determinism.configure(threads, precision)


def _pipeline(defense: str, attack: str, cache: Path, out: Path) -> Pipeline:
    control = ATTACKS.get(attack).control_only
    spec = resolve(SUITE, defense, attack, PROFILE, seed=SEED, control=control)
    return Pipeline(spec, RunOptions(device="cpu", out=out, write_leaderboard=False, cache_root=cache))


def _snapshot(kind: str, component, outputs: dict[str, str], unavailable: str = "") -> Snapshot:
    return Snapshot(kind, component.name, component.version, outputs, params_dict(component.params),
                    float_environment(), unavailable)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def check_defense(name: str, cache_root: Path | None = None) -> Snapshot:
    """Train the defense's target; it must classify the 4 well-separated classes (accuracy > 0.5)."""
    with snapshot_environment(cache_root) as cache, tempfile.TemporaryDirectory() as out:
        pipe = _pipeline(name, "blank", cache, Path(out))
        target = pipe.prepare().target
        _require(target.accuracy > 0.5, f"defense {name!r} trained a target of accuracy {target.accuracy:.3f} on "
                                        f"the tiny suite's 4 well-separated classes (a working one gets > 0.5)")
        with torch.no_grad():
            logits = target.model(pipe.suite.load(pipe.cache).public.images[:3])
        _require(tuple(logits.shape) == (3, pipe.suite.num_classes),
                 f"defense {name!r}: its target maps 3 images to logits of shape {tuple(logits.shape)}, "
                 f"not (3, {pipe.suite.num_classes})")
        return _snapshot("defenses", pipe.defense, {"target_weights": digest(cpu_state(target.model)),
                                                    "natural_acc": digest(float(target.accuracy))})


@contextlib.contextmanager
def _private_reads() -> Iterator[list[str]]:
    """The private roles read while inside (recorded even when the access guard raises and the code
    swallows the error)."""
    reads: list[str] = []
    original = DataRoles._private

    def spy(self, role):
        reads.append(role)
        return original(self, role)

    DataRoles._private = spy
    try:
        yield reads
    finally:
        DataRoles._private = original


def check_attack(name: str, cache_root: Path | None = None) -> Snapshot:
    """Run the attack against the undefended target through the whole pipeline (run folder
    included); it must read no private data and return the budget's reconstructions."""
    with snapshot_environment(cache_root) as cache, tempfile.TemporaryDirectory() as out, _private_reads() as reads:
        pipe = _pipeline("none", name, cache, Path(out))
        during: list[str] = []
        run = pipe.attack.run

        def watched(ctx):
            reads.clear()  # the reads before the attack (training, the judge) are allowed
            result = run(ctx)
            during.extend(reads)
            return result

        pipe.attack.run = watched
        record = pipe.run()
        _require(not during, f"attack {name!r} read the private roles {sorted(set(during))}: attacks may use "
                             f"public data only")
        folder = pipe.run_folder()
        recon = reconstructions.decode((folder / reconstructions.FILE_NAME).read_bytes())
        budget = pipe.profile.budget
        labels, seeds = budget.labels_and_seeds()
        _require(torch.equal(recon.labels, labels) and torch.equal(recon.seed_index, seeds),
                 f"attack {name!r} returned {len(recon.labels)} reconstructions, not the budget's {budget.total} "
                 f"in its order (AttackBudget.labels_and_seeds)")
        _require(len(list((folder / "reconstructions").glob("*.png"))) == budget.total
                 and (folder / "grid.png").is_file() and (folder / "record.json").is_file(),
                 f"attack {name!r}: the run folder lacks its PNGs, grid or record")
        _require(0.0 <= record.metrics["attack_acc_top1"] <= 1.0,
                 f"attack {name!r}: top-1 accuracy {record.metrics['attack_acc_top1']} is not in [0, 1]")
        control = pipe.attack.control_only
        _require(record.attack_queries > 0 or control, f"attack {name!r} sent no query to the target")
        stored = {"images": torch.from_numpy(reconstructions.to_uint8(recon.images)), "labels": recon.labels,
                  "seed_index": recon.seed_index}
        return _snapshot("attacks", pipe.attack, {"reconstructions": digest(stored),
                                                  "queries": digest(int(record.attack_queries))})


def requesting_attack(prior: str) -> str | None:
    """The first registered attack (by name) that requests ``prior``; None when none does."""
    return next((a for a in ATTACKS.usable_names() if prior in ATTACKS.get(a).priors), None)


def check_prior(name: str, cache_root: Path | None = None) -> Snapshot:
    """Build the prior as the first attack that requests it does (a target-scoped prior through that
    attack's view of the undefended target); its artifact must be what the cache stored."""
    attack = requesting_attack(name)
    if attack is None:
        prior = PRIORS.get(name)()
        return _snapshot("priors", prior, {}, "no registered attack requests it, so nothing builds it")
    with snapshot_environment(cache_root) as cache, tempfile.TemporaryDirectory() as out:
        pipe = _pipeline("none", attack, cache, Path(out))
        params = pipe.spec.prior_params[name]
        prior = PRIORS.get(name)(params)
        public = pipe.suite.load(pipe.cache).public_images()
        if prior.scope == "public":
            pipe.build_public_prior(name)
            target_key = None
        else:
            pipe.build_target_prior(name)
            target_key = pipe.prepare().target.key
        state = pipe.cache.load("priors", content_key(stages.prior_key(pipe.suite, public, prior, params, target_key)))
        _require(isinstance(state, dict) and bool(state), f"prior {name!r}: its build left no artifact in the cache")
        return _snapshot("priors", prior, {key: digest(value) for key, value in state.items()})


def fixed_reconstructions(budget: AttackBudget, num_classes: int) -> Reconstructions:
    """The budget's labels and seeds with fixed synthetic images: even ones of the attacked class,
    odd ones of the next class (so a judge scores about half of them as hits), 8-bit as stored."""
    labels, seeds = budget.labels_and_seeds()
    pool = synthetic_images(len(labels), range(num_classes), seed=3)
    index = [((c + i % 2) % num_classes) * len(labels) + i for i, c in enumerate(labels.tolist())]
    return Reconstructions(quantize(pool.images[index]), labels, seeds)


def check_evaluator(name: str, cache_root: Path | None = None) -> Snapshot:
    """Score :func:`fixed_reconstructions` with the suite's judge; the evaluator must return declared
    metrics, numbers finite (or NaN with a note naming its missing weights file, and then no snapshot)."""
    with snapshot_environment(cache_root) as cache, tempfile.TemporaryDirectory() as out:
        pipe = _pipeline("none", "blank", cache, Path(out))
        data = pipe.suite.load(pipe.cache)
        judge, features = stages.load_judge(pipe.suite, data, pipe.cache, pipe.device, Timings())
        recon = fixed_reconstructions(pipe.profile.budget, pipe.suite.num_classes)
        ctx = stages.eval_context(pipe.suite, judge, data, features, recon, pipe.cache, pipe.device)
        evaluator = EVALUATORS.get(name)(pipe.spec.evaluator_params.get(name, {}))
        metrics = stages.evaluate([evaluator], ctx)
        declared = {m.name: m for m in evaluator.metrics}
        numbers = {k: v for k, v in metrics.items() if declared[k].kind == "number"}
        _require(bool(numbers) and all(isinstance(v, float) for v in numbers.values()),
                 f"evaluator {name!r} returned no number, or a number that is not a float: {metrics}")
        note = ctx.notes.get(name)
        if note is not None:
            _require(all(math.isnan(v) for v in numbers.values()) and "not found" in note,
                     f"evaluator {name!r} left a note but reported numbers other than NaN: {metrics}; note: {note}")
            missing = note.split(" not found")[0]  # MissingAssetError: "<description> (<name>) not found: ..."
            return _snapshot("evaluators", evaluator, {}, f"it needs a weights file ({missing}), and snapshots run "
                                                          f"without any, so that every machine computes the same")
        _require(all(math.isfinite(v) for v in numbers.values()),
                 f"evaluator {name!r} returned a number that is not finite, without a note saying why: {metrics}")
        outputs = {k: digest(v) for k, v in metrics.items()}
        outputs.update({f"{k} per class": digest(ctx.per_class[k]) for k in declared if k in ctx.per_class})
        return _snapshot("evaluators", evaluator, outputs)


CHECKS: dict[str, Callable[..., Snapshot]] = {"defenses": check_defense, "attacks": check_attack,
                                              "priors": check_prior, "evaluators": check_evaluator}
REGISTRIES: dict[str, Any] = {"defenses": DEFENSES, "attacks": ATTACKS, "priors": PRIORS, "evaluators": EVALUATORS}


def components() -> list[str]:
    """Every registered component as ``kind/name``, in the order snapshots are taken."""
    return [f"{kind}/{name}" for kind, registry in REGISTRIES.items() for name in registry.usable_names()]


def check(key: str, cache_root: Path | None = None) -> Snapshot:
    """The check of ``kind/name`` (``defenses/bido``)."""
    kind, _, name = key.partition("/")
    if kind not in CHECKS or not name:
        raise ConfigError(f"{key!r} is not KIND/NAME with KIND one of {', '.join(CHECKS)}")
    return CHECKS[kind](name, cache_root)
