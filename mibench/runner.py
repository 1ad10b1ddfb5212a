"""The pipeline: RunSpec -> Suite -> DataRoles -> Defense.train -> target -> access view ->
Attack.run -> Reconstructions -> Evaluators -> RunRecord -> leaderboard (docs/layout.md, data flow).

A thin orchestrator over :mod:`mibench.stages` (seed-independent, cached builds), the attack, the
evaluators and :mod:`mibench.records`. A rerun with another seed recomputes only the
seed-dependent stages (the attack and the metrics), and an interrupted run resumes from the last
cached stage. Every parameter is validated before any work starts (:func:`mibench.spec.resolve`);
output folders are written only when a run has finished.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from . import determinism, reconstructions, stages
from .access import view_for
from .assets import locate, sha256_file
from .attack import AttackContext, Reconstructions
from .board.provenance import check_writable_protocol
from .cache import Cache, ensure_writable
from .data import DataRoles, attack_stage
from .errors import CheckpointError, ConfigError
from .evaluator import EvalContext
from .leaderboard import add_record, board_name, check_board_file
from .progress import timed_spans
from .records import RunRecord, quantize, versions, write_run_folder
from .registries import ATTACKS, DEFENSES, EVALUATORS, PRIORS, SUITES
from .spec import RunSpec, resolve, variant
from .stage_hashes import module_sha256, tree_sha256
from .suite import Suite


@dataclass
class RunOptions:
    device: str = "auto"
    out: Path = Path("mibench-runs")
    leaderboard_dir: Path | None = None  # default: <out>/leaderboards
    write_leaderboard: bool = True
    cache_root: Path | None = None
    data_root: Path | None = None
    assets_dirs: tuple[Path, ...] = ()  # searched first for the suite's weights files (--assets-dir)
    weights: dict[str, Path] = dataclasses.field(default_factory=dict)  # --weights ROLE=FILE
    precision: str = "fp32"  # --precision: fp32 (deterministic) or bf16 (GPU speed; determinism.py)
    overwrite_edited_board: bool = False  # --overwrite-edited-board: rebuild a board CSV edited by hand
    retrain_targets: bool = False  # --retrain-targets: train a target the suite ships from its recipe


def imported_files(spec: RunSpec, options: RunOptions) -> dict[str, tuple[Path, str]]:
    """The classifier files the spec pins (``spec.weights``: role -> SHA-256), found in
    ``options.weights`` and checked against their pins."""
    files = {}
    for role, sha in spec.weights.items():
        path = options.weights.get(role)
        if path is None:
            raise ConfigError(f"this run imports its {role} from a file with SHA-256 {sha}: pass --weights {role}=FILE")
        found = read_sha256(path)
        if found != sha:
            raise CheckpointError(f"--weights {role}={path} has SHA-256 {found}, but the run pins {sha}: pass the "
                                  f"file the record was made with")
        files[role] = (Path(path), sha)
    return files


def read_sha256(path: Path) -> str:
    """The SHA-256 of a ``--weights`` file; a missing file is a :class:`CheckpointError`."""
    if not Path(path).is_file():
        raise CheckpointError(f"--weights file {path} does not exist: pass the path of the checkpoint as distributed")
    return sha256_file(Path(path))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for but torch sees no CUDA device; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name!r}: mibench runs on cpu or cuda; use auto, cpu, cuda or cuda:N")
    return device


def described(registry, component) -> dict:
    """A component as a record lists it: name, version, paper, code and the distribution that provides it."""
    return {**component.describe(), **registry.origin(component.name)}


class Timings(dict):
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(time.perf_counter() - start, 3)


class Pipeline:
    """One run's components, built from a RunSpec."""

    def __init__(self, spec: RunSpec, options: RunOptions):
        self.spec, self.options = spec, options
        self.device = resolve_device(options.device)
        self.cache = Cache(options.cache_root)
        self.suite: Suite = SUITES.get(spec.suite)(options.data_root, spec.suite_params)
        self.profile = self.suite.profile(spec.profile)
        self.defense = DEFENSES.get(spec.defense)(spec.defense_params)
        self.attack = ATTACKS.get(spec.attack)(spec.attack_params)
        self.evaluators = [EVALUATORS.get(n)(spec.evaluator_params.get(n, {})) for n in self.suite.evaluators]
        self.imported = imported_files(spec, options)
        self.timings = Timings()
        self.stage_sha256: dict[str, str] = {}  # stage -> checksum of its output (mibench.stage_hashes)

    def prepare(self) -> "Prepared":
        """Data, target, judge and the judge's private features: cached, seed-independent."""
        t, cache, dev = self.timings, self.cache, self.device
        with t.stage("data"):
            data = self.suite.load(cache)
        with t.stage("target"), determinism.autocast(dev):
            target = stages.train_target(self.suite, self.profile, self.defense, self.spec.defense_params, data,
                                         cache, dev, imported=self.imported.get("target"),
                                         shipped=not self.options.retrain_targets,
                                         assets_dirs=self.options.assets_dirs)
        judge, feats = stages.load_judge(self.suite, data, cache, dev, t, assets_dirs=self.options.assets_dirs,
                                         imported=self.imported.get("evaluator"))
        return Prepared(data, target, judge, feats)

    def build_public_prior(self, name: str) -> None:
        """Build (or find in the cache) one of the attack's public priors, as its runs will."""
        with determinism.autocast(self.device):
            stages.build_public_prior(self.cache, self.suite, self.suite.load(self.cache).public_images(), name,
                                      self.spec.prior_params[name], self.device)

    def build_target_prior(self, name: str) -> None:
        """Build (or find in the cache) one of the attack's target-scoped priors, through the
        attack's access view, as its runs will."""
        prep = self.prepare()
        public = prep.data.public_images()
        with determinism.autocast(self.device):
            self._prior_loader(prep, public, self._view(prep))(name)

    def _view(self, prep: "Prepared"):
        return view_for(self.attack.access, prep.target.model, self.suite.num_classes, self.suite.image_shape,
                        query_budget=self.attack.query_budget(), owner=f"attack {self.attack.name!r}",
                        seed=self.spec.seed)  # a stochastic target's noise follows the run seed

    def _prior_loader(self, prep: "Prepared", public, view):
        return stages.prior_loader(self.cache, self.suite, public, self.spec.prior_params, self.attack.name,
                                   prep.target.key, view, self.device, self.timings, self.stage_sha256)

    def reconstruct(self, prep: "Prepared") -> tuple[Reconstructions, int]:
        """Run the attack with the access it declared, the public images and nothing private;
        returns the reconstructions (8-bit quantised, as saved) and the number of target queries."""
        public = prep.data.public_images()
        view = self._view(prep)
        ctx = AttackContext(target=view, public=public, budget=self.profile.budget, image_shape=self.suite.image_shape,
                            num_classes=self.suite.num_classes, device=self.device, seed=self.spec.seed,
                            artifact=stages.attack_artifact(self.cache, prep.target.key, public, self.attack.name,
                                                            self.attack.version, view, self.stage_sha256),
                            prior=self._prior_loader(prep, public, view))
        with self.timings.stage("attack"), attack_stage(), determinism.autocast(self.device), timed_spans() as spans:
            recon = self.attack.run(ctx)
        self.timings.update({f"attack/{name}": round(seconds, 3) for name, seconds in spans.items()})
        recon.images = quantize(recon.images)
        return recon, view.queries

    def eval_context(self, prep: "Prepared", recon: Reconstructions) -> EvalContext:
        return stages.eval_context(self.suite, prep.judge, prep.data, prep.private_features, recon, self.cache,
                                   self.device, self.options.assets_dirs)

    def configure(self) -> None:
        """The suite's thread count and deterministic kernels: every stage is computed the same
        whether it runs inside ``run`` or alone (a sweep's prepare task)."""
        determinism.configure(determinism.thread_count(self.suite.threads), self.options.precision)

    def run(self) -> RunRecord:
        t = self.timings
        self.configure()
        start = time.perf_counter()
        prep = self.prepare()
        self.stage_sha256["target"] = module_sha256(prep.target.model)
        recon, queries = self.reconstruct(prep)
        ectx = self.eval_context(prep, recon)
        with t.stage("evaluate"):
            metrics = stages.evaluate(self.evaluators, ectx)
            nearest = stages.nearest_private(ectx)
        t["total"] = round(time.perf_counter() - start, 3)
        record = self.record(prep, metrics, queries, recon.notes, ectx)
        folder = self.run_folder()
        record.run_folder = str(folder)
        stored = reconstructions.encode(recon)
        record.reconstructions_sha256 = reconstructions.sha256(stored)
        record.stage_sha256 = {**self.stage_sha256, "reconstructions": record.reconstructions_sha256,
                               "judge": module_sha256(prep.judge.model), "metrics": tree_sha256(metrics)}
        success = ectx.logits.argmax(1) == recon.labels
        write_run_folder(folder, record, recon, nearest, success, stored)
        if self.options.write_leaderboard:
            add_record(self.leaderboard_dir(), record, grid=folder / "grid.png",
                       reconstructions=folder / reconstructions.FILE_NAME,
                       overwrite_edited=self.options.overwrite_edited_board)
        return record

    def record(self, prep: "Prepared", metrics: dict, queries: int, attack_notes: dict | None = None,
               ectx: EvalContext | None = None) -> RunRecord:
        """The run's record; ``ectx`` (after evaluation) adds the evaluators' notes, weights files and
        per-class numbers."""
        spec, data = self.spec, prep.data
        return RunRecord(
            spec=spec.to_dict(), config_hash=spec.config_hash, metrics=metrics,
            natural_acc=prep.target.accuracy, evaluator_acc=prep.judge.accuracy,
            evaluator_acc_private=prep.judge.extra["accuracy_private"],
            metric_specs={m.name: dataclasses.asdict(m) for ev in self.evaluators for m in ev.metrics},
            primary_metric=self.suite.primary_metric, strength=self._strength(), variant=self._variant(),
            components={"suite": described(SUITES, self.suite),
                        # a stochastic target's other accuracies (MID's natural_acc_mean), beside natural_acc
                        "defense": {**described(DEFENSES, self.defense), **prep.target.extra},
                        "attack": {**described(ATTACKS, self.attack), "access": self.attack.access.value},
                        "evaluators": [described(EVALUATORS, e) for e in self.evaluators],
                        **({"priors": [{**described(PRIORS, PRIORS.get(p)), "scope": PRIORS.get(p).scope}
                                       for p in spec.prior_params]} if spec.prior_params else {})},
            profile=self.suite.describe_profile(spec.profile),
            target_arch=self.suite.target_arch, target_arch_params=self.suite.target_arch_params,
            evaluator_arch=self.suite.evaluator_arch,
            evaluator_weights={**stages.judge_weights(self.suite, self.imported.get("evaluator")),
                               **(ectx.weights if ectx else {})},
            budget=dataclasses.asdict(self.profile.budget),
            data={**data.summary(), "fingerprint": data.fingerprint(), "source": self.suite.source()},
            attack_queries=queries, attack_notes=dict(attack_notes or {}),
            evaluator_notes=dict(ectx.notes if ectx else {}), per_class=dict(ectx.per_class if ectx else {}),
            device=str(self.device),
            float_env=determinism.describe(),
            versions=versions(), timings=dict(self.timings),
            cache={"built": self.cache.builds, "reused": self.cache.hits, "root": str(self.cache.root),
                   **({"shipped": {"targets": prep.target.shipped}} if prep.target.shipped else {})},
        )

    def _knobs(self) -> tuple[str, ...]:
        """The defense's strength knobs (its ladder's; none without a ladder)."""
        return tuple(self.defense.ladder.knob.split(",")) if self.defense.ladder else ()

    def _strength(self) -> str:
        return ";".join(f"{k}={self.spec.defense_params[k]}" for k in self._knobs())

    def _variant(self) -> str:
        s = self.spec
        return variant(s, resolve(s.suite, s.defense, s.attack, s.profile, control=s.control), self._knobs())

    def run_folder(self) -> Path:
        s = self.spec
        attack = f"{s.attack}-control" if s.control else s.attack
        return Path(self.options.out) / board_name(s.suite, s.profile) / f"{s.defense}__{attack}" / \
            f"{s.config_hash}-s{s.seed}"

    def leaderboard_dir(self) -> Path:
        return Path(self.options.leaderboard_dir or Path(self.options.out) / "leaderboards")

    def preflight(self) -> None:
        """Fail before any work when an output folder cannot be written, the board is not ours or
        a weights file the suite needs is missing."""
        if self.suite.evaluator_asset is not None and "evaluator" not in self.imported:
            locate(self.suite.evaluator_asset, self.options.assets_dirs)
        ensure_writable(Path(self.options.out), "output folder (--out)")
        ensure_writable(self.cache.root, "cache folder ($MIBENCH_CACHE)")
        if self.options.write_leaderboard:
            ensure_writable(self.leaderboard_dir(), "leaderboard folder (--leaderboard-dir)")
            board = board_name(self.spec.suite, self.spec.profile)
            check_writable_protocol(self.leaderboard_dir(), board, self.suite.name, self.suite.version)
            check_board_file(self.leaderboard_dir(), board, overwrite_edited=self.options.overwrite_edited_board)


@dataclass
class Prepared:
    """The seed-independent stages of a run: the data, the target, the judge and its private features."""

    data: DataRoles
    target: stages.Trained
    judge: stages.Trained
    private_features: torch.Tensor


def run(spec: RunSpec, options: RunOptions) -> RunRecord:
    pipeline = Pipeline(spec, options)
    pipeline.preflight()
    return pipeline.run()
