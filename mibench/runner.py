"""The pipeline: RunSpec -> Suite -> DataRoles -> Defense.train -> target -> access view ->
Attack.run -> Reconstructions -> Evaluators -> RunRecord -> leaderboard (DESIGN.md).

Trained targets, the evaluator, its features of private data, attack priors and FID reference
statistics are cached by the hash of everything that determines them, so a rerun with another
seed recomputes only the seed-dependent stages (the attack and the metrics), and an interrupted run
resumes from the last cached stage.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .access import view_for
from .attack import AttackContext, Reconstructions
from .cache import Cache, content_key, ensure_writable
from .data import DataRoles, attack_stage
from .errors import ConfigError
from .defense import DefenseContext
from .evaluator import EvalContext
from .evaluators.knn import nearest_same_class
from .leaderboard import add_record, board_name
from .models import Classifier
from .records import quantize, versions, write_run_folder
from .registries import ATTACKS, DEFENSES, EVALUATORS, MODELS, SUITES
from .spec import RunSpec
from .suite import Suite
from .training import accuracy, batched, fit

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    device: str = "auto"
    out: Path = Path("mibench-runs")
    leaderboard_dir: Path | None = None  # default: <out>/leaderboards; the CLI's --no-leaderboard sets write to False
    write_leaderboard: bool = True
    cache_root: Path | None = None
    data_root: Path | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


class Timings(dict):
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(time.perf_counter() - start, 3)


@dataclass
class Prepared:
    """The seed-independent stages of a run."""

    data: DataRoles
    target: Classifier
    natural_acc: float
    target_key: str
    evaluator: Classifier
    evaluator_acc: float
    evaluator_key: str
    private_features: torch.Tensor


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


class Pipeline:
    """One run's components, built from a RunSpec; each stage is cached and reusable."""

    def __init__(self, spec: RunSpec, options: RunOptions):
        self.spec, self.options = spec, options
        self.device = resolve_device(options.device)
        self.cache = Cache(options.cache_root)
        self.suite: Suite = SUITES.get(spec.suite)(options.data_root)
        self.profile = self.suite.profile(spec.profile)
        self.defense = DEFENSES.get(spec.defense)(spec.defense_params)
        self.attack = ATTACKS.get(spec.attack)(spec.attack_params)
        self.evaluators = [EVALUATORS.get(n)(spec.evaluator_params.get(n, {})) for n in self.suite.evaluators]
        self.timings = Timings()

    # models ------------------------------------------------------------------------------------
    def _backbone(self, arch: str, params: dict[str, Any]) -> Callable[[], nn.Module]:
        return lambda: MODELS.get(arch)(**params)

    def _suite_key(self, data: DataRoles) -> dict[str, Any]:
        return {"suite": self.suite.name, "suite_version": self.suite.version, "data": data.fingerprint(),
                "train_seed": self.suite.train_seed}

    def _defense_context(self, data: DataRoles) -> DefenseContext:
        return DefenseContext(data=data, num_classes=self.suite.num_classes,
                              make_backbone=self._backbone(self.suite.target_arch, self.suite.target_arch_params),
                              recipe=self.profile.target, device=self.device, seed=self.suite.train_seed)

    def target_config(self, data: DataRoles) -> dict[str, Any]:
        return {**self._suite_key(data), "defense": self.defense.name, "defense_version": self.defense.version,
                "params": self.spec.defense_params, "arch": self.suite.target_arch,
                "arch_params": self.suite.target_arch_params, "recipe": dataclasses.asdict(self.profile.target)}

    def train_target(self, data: DataRoles) -> tuple[Classifier, float, dict]:
        ctx = self._defense_context(data)
        config = self.target_config(data)

        def build() -> dict:
            torch.manual_seed(self.suite.train_seed)
            model = self.defense.train(ctx)
            return {"state_dict": _state(model), "natural_acc": accuracy(model, data.private_test, self.device)}

        payload = self.cache.get_or_build("targets", config, build)
        torch.manual_seed(self.suite.train_seed)
        model = self.defense.build(ctx).to(self.device)
        model.load_state_dict(payload["state_dict"])
        return model.eval(), float(payload["natural_acc"]), config

    def evaluator_config(self, data: DataRoles) -> dict[str, Any]:
        return {**self._suite_key(data), "arch": self.suite.evaluator_arch,
                "arch_params": self.suite.evaluator_arch_params, "recipe": dataclasses.asdict(self.profile.evaluator)}

    def train_evaluator(self, data: DataRoles) -> tuple[Classifier, float, dict]:
        config = self.evaluator_config(data)

        def make() -> Classifier:
            torch.manual_seed(self.suite.train_seed)
            backbone = self._backbone(self.suite.evaluator_arch, self.suite.evaluator_arch_params)()
            return Classifier(backbone, nn.Linear(backbone.feature_dim, self.suite.num_classes)).to(self.device)

        def build() -> dict:
            model = make()
            fit(model, data.private_train, self.profile.evaluator, device=self.device, seed=self.suite.train_seed,
                description=f"evaluator [{self.suite.evaluator_arch}]")
            return {"state_dict": _state(model), "accuracy": accuracy(model, data.private_test, self.device)}

        payload = self.cache.get_or_build("evaluators", config, build)
        model = make()
        model.load_state_dict(payload["state_dict"])
        return model.eval(), float(payload["accuracy"]), config

    def private_features(self, data: DataRoles, evaluator: Classifier, evaluator_key: str) -> torch.Tensor:
        def build() -> dict:
            return {"features": batched(evaluator.features, data.private_train.images, self.device)}

        return self.cache.get_or_build("features", {"evaluator": evaluator_key, "role": "private_train"}, build)["features"]

    # the run ------------------------------------------------------------------------------------
    def prepare(self) -> "Prepared":
        """Data, target, evaluator and the evaluator's private features: cached, seed-independent."""
        t = self.timings
        with t.stage("data"):
            data = self.suite.load()
        with t.stage("target"):
            target, natural_acc, target_config = self.train_target(data)
        with t.stage("evaluator"):
            evaluator, evaluator_acc, evaluator_config = self.train_evaluator(data)
        evaluator_key = content_key(evaluator_config)
        with t.stage("private_features"):
            private_feats = self.private_features(data, evaluator, evaluator_key)
        return Prepared(data, target, natural_acc, content_key(target_config), evaluator, evaluator_acc,
                        evaluator_key, private_feats)

    def reconstruct(self, prep: "Prepared") -> tuple[Reconstructions, AttackContext]:
        """Run the attack with the access it declared, the public images and nothing private."""
        public = prep.data.public_images()

        def attack_artifact(name: str, config: dict, build: Callable[[], dict]) -> dict:
            key = {"target": prep.target_key, "public": public.fingerprint, "attack": self.attack.name,
                   "attack_version": self.attack.version, "artifact": name, "config": config}
            return self.cache.get_or_build("attacks", key, build)

        view = view_for(self.attack.access, prep.target, self.suite.num_classes, self.suite.image_shape)
        ctx = AttackContext(target=view, public=public, budget=self.profile.budget, image_shape=self.suite.image_shape,
                            num_classes=self.suite.num_classes, device=self.device, seed=self.spec.seed,
                            artifact=attack_artifact)
        with self.timings.stage("attack"), attack_stage():
            recon = self.attack.run(ctx)
        recon.images = quantize(recon.images)
        return recon, ctx

    def eval_context(self, prep: "Prepared") -> EvalContext:
        def eval_artifact(name: str, config: dict, build: Callable[[], dict]) -> dict:
            return self.cache.get_or_build("evaluation", {"evaluator": prep.evaluator_key, "name": name, **config}, build)

        return EvalContext(evaluator=prep.evaluator, private_train=prep.data.private_train,
                           private_features=prep.private_features, device=self.device, artifact=eval_artifact,
                           evaluator_name=self.suite.evaluator_arch)

    def run(self) -> dict[str, Any]:
        spec, t = self.spec, self.timings
        start = time.perf_counter()
        prep = self.prepare()
        recon, ctx = self.reconstruct(prep)
        ectx = self.eval_context(prep)
        metrics: dict[str, Any] = {}
        with t.stage("evaluate"):
            for ev in self.evaluators:
                metrics.update(ev.evaluate(recon, ectx))
            _, feats = ectx.evaluator_outputs(recon.images)
            _, nearest_idx = nearest_same_class(feats, recon.labels, prep.private_features,
                                                prep.data.private_train.labels)
        t["total"] = round(time.perf_counter() - start, 3)
        data = prep.data
        record = {
            "spec": spec.to_dict(), "config_hash": spec.config_hash, "device": str(self.device),
            "versions": versions(), "timings": dict(t),
            "cache": {"built": self.cache.builds, "reused": self.cache.hits, "root": str(self.cache.root)},
            "natural_acc": prep.natural_acc, "evaluator_acc": prep.evaluator_acc, "metrics": metrics,
            "target_arch": self.suite.target_arch, "target_arch_params": self.suite.target_arch_params,
            "evaluator_arch": self.suite.evaluator_arch,
            "budget": dataclasses.asdict(self.profile.budget),
            "recipes": {"target": dataclasses.asdict(self.profile.target),
                        "evaluator": dataclasses.asdict(self.profile.evaluator)},
            "components": {"suite": self.suite.describe(), "defense": self.defense.describe(),
                           "attack": {**self.attack.describe(), "access": self.attack.access.value},
                           "evaluators": [e.describe() for e in self.evaluators]},
            "suite_scaling": getattr(self.suite, "scaling", {}),
            "data": {**data.summary(), "fingerprint": data.fingerprint(), "source": self.suite.source()},
            "attack_queries": ctx.target.queries,
        }
        folder = self.run_folder()
        record["run_folder"] = str(folder)
        write_run_folder(folder, record, recon, data.private_train.images[nearest_idx])
        if self.options.write_leaderboard:
            record["leaderboard"] = str(add_record(self.leaderboard_dir(), record))
        return record

    def run_folder(self) -> Path:
        s = self.spec
        return Path(self.options.out) / board_name(s.suite, s.profile) / f"{s.defense}__{s.attack}" / \
            f"{s.config_hash}-s{s.seed}"

    def leaderboard_dir(self) -> Path:
        return Path(self.options.leaderboard_dir or Path(self.options.out) / "leaderboards")

    def check_writable(self) -> None:
        ensure_writable(Path(self.options.out), "output folder (--out)")
        ensure_writable(self.cache.root, "cache folder ($MIBENCH_CACHE)")
        if self.options.write_leaderboard:
            ensure_writable(self.leaderboard_dir(), "leaderboard folder (--leaderboard-dir)")


def run(spec: RunSpec, options: RunOptions) -> dict[str, Any]:
    pipeline = Pipeline(spec, options)
    pipeline.check_writable()
    return pipeline.run()
