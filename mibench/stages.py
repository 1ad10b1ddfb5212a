"""The seed-independent stages of a run, each beside its cache key.

- :func:`train_target`: the defended target, keyed by the suite (name, version, data fingerprint,
  train seed), the target backbone (name, *version*, parameters), the recipe, the shared trainer's
  version and the defense (name, version, parameters). A defense's own stages are keyed the same
  way plus the stage's config (:meth:`DefenseContext.stage`).
- :func:`train_evaluator`: the suite's judge: its shipped weights (keyed by their SHA-256), or
  trained from the suite's recipe (keyed by the suite, its backbone and recipe).
- :func:`private_features`: the judge's penultimate features of private_train.
- :func:`prior_loader`: the priors an attack requests, keyed by their scope (:mod:`mibench.prior`).
- :func:`attack_artifact` / :func:`eval_artifact`: the scopes of an attack's target-dependent
  artifacts and of evaluation statistics.
- :func:`load_judge`, :func:`eval_context` and :func:`evaluate`: the evaluation step, the same in
  ``mibench run`` and ``mibench leaderboard rejudge`` (:mod:`mibench.rejudge`).

Bumping a backbone's, a component's or the trainer's version changes every key that depends on it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import determinism
from .access import derive_seed, fixed_noise, mean_path, reseed, samples
from .assets import load_state_dict, locate
from .attack import Reconstructions
from .cache import Cache, content_key
from .checkpoints import import_classifier
from .data import DataRoles, PublicImages
from .defense import Defense, DefenseContext
from .errors import AssetError, ConfigError
from .evaluator import EvalContext, Evaluator
from .models import Classifier
from .prior import Prior, PriorContext
from .registries import MODELS, PRIORS
from .stage_hashes import tree_sha256
from .suite import Profile, Suite
from .training import TRAINER_VERSION, accuracy, fit
from .tensors import as_float, batched, cpu_state, nearest_same_class


@dataclass
class Trained:
    """A trained model, its test accuracy and the content key of its cache entry."""

    model: Classifier
    accuracy: float
    key: str
    extra: dict[str, float] = dataclasses.field(default_factory=dict)
    shipped: str = ""  # the shipped file it was loaded from, if any


def suite_key(suite: Suite, data: DataRoles) -> dict[str, Any]:
    return {"suite": suite.name, "suite_version": suite.version, "data": data.fingerprint(),
            "train_seed": suite.train_seed}


def arch_key(arch: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"arch": arch, "arch_version": MODELS.get(arch).version, "arch_params": params}


def target_config(suite: Suite, profile: Profile, defense: Defense, data: DataRoles) -> dict[str, Any]:
    return {**suite_key(suite, data), **arch_key(suite.target_arch, suite.target_arch_params),
            "recipe": dataclasses.asdict(profile.target), "trainer_version": TRAINER_VERSION,
            "defense": defense.name, "defense_version": defense.version, **determinism.cache_scope()}


def train_target(suite: Suite, profile: Profile, defense: Defense, params: dict[str, Any], data: DataRoles,
                 cache: Cache, device: torch.device, imported: tuple[Path, str] | None = None, *,
                 shipped: bool = True, assets_dirs: tuple = ()) -> Trained:
    """The defended target (cached); ``params`` are the defense's resolved parameters. ``imported``
    (a published file and its SHA-256, ``--weights target=FILE``) replaces training: the key is then
    the suite, the architecture and the file's checksum. A target the suite ships
    (``suite.target_assets``, by key) is loaded from its checked file when ``shipped``; with
    ``shipped=False`` (``--retrain-targets``, ``leaderboard check``) it is trained from its recipe,
    and a shipped copy in the cache is replaced."""
    scope = target_config(suite, profile, defense, data)
    config = {**scope, "params": params}
    if imported is not None:
        config = {**suite_key(suite, data), **arch_key(suite.target_arch, suite.target_arch_params),
                  "classes": suite.num_classes, "weights": {"target": imported[1]}}
    asset = suite.target_assets.get(content_key(config)) if shipped and imported is None else None

    def stage_cache(name: str, stage_config: dict, build: Callable[[], dict]) -> dict:
        return cache.get_or_build("stages", {**scope, "stage": name, "config": stage_config}, build)

    ctx = DefenseContext(data=data, num_classes=suite.num_classes,
                         make_backbone=lambda: MODELS.get(suite.target_arch)(**suite.target_arch_params),
                         recipe=profile.target, device=device, seed=suite.train_seed, cache=stage_cache)

    def build() -> dict:
        if asset is not None:
            return {**load_target_file(asset, assets_dirs), SHIPPED: asset.filename}
        torch.manual_seed(suite.train_seed)
        if imported is None:
            model = defense.train(ctx)
        else:
            model = defense.build(ctx).to(device)
            import_classifier(model, imported[0])
        return {"state_dict": cpu_state(model), **natural_accuracies(model, data, device, suite.train_seed),
                "defense_notes": dict(ctx.notes)}

    payload = cache.get_or_build("targets", config, build, accept=None if shipped else lambda p: SHIPPED not in p)
    torch.manual_seed(suite.train_seed)  # the rebuilt module matches the cached weights' structure
    model = defense.build(ctx).to(device)
    load_checked(model, payload["state_dict"], payload.get(SHIPPED, "the cached target"))
    extra = {k: float(v) for k, v in payload.items() if k.startswith("natural_acc_")}  # natural_accuracies
    extra.update({k: float(v) for k, v in payload.get("defense_notes", {}).items()})  # DefenseContext.notes
    return Trained(model.eval(), float(payload["natural_acc"]), content_key(config), extra,
                   shipped=payload.get(SHIPPED, ""))


SHIPPED = "shipped_file"
"""Key of a cached target payload loaded from a shipped file (its file name): ``--retrain-targets`` replaces it."""
TARGET_PAYLOAD = ("state_dict", "natural_acc", "defense_notes")
"""What a target payload (cached or shipped) holds at least; ``natural_acc_*`` entries may follow."""


def load_target_file(asset, folders: tuple = ()) -> dict:
    """A shipped target's payload (weights, natural accuracies, the defense's notes), from its checked file."""
    payload = torch.load(locate(asset, folders), map_location="cpu", weights_only=True)
    missing = [k for k in TARGET_PAYLOAD if k not in payload]
    if missing:
        raise AssetError(f"{asset.description}: {asset.filename} lacks {', '.join(missing)}; it is not a file "
                         f"`mibench target export` wrote. {asset.obtain}")
    return payload


def natural_accuracies(model: nn.Module, data: DataRoles, device: torch.device, seed: int) -> dict[str, float]:
    """``natural_acc``: ``model``'s accuracy on private_test as deployed. For a stochastic target
    (:func:`mibench.access.samples`) its noise is seeded from ``seed`` (the suite's train seed: the
    target's numbers do not depend on the run seed), and ``natural_acc_mean`` is its mean path's."""
    reseed(model, derive_seed("natural_acc", seed))
    out = {"natural_acc": accuracy(model, data.private_test, device)}
    if samples(model):
        with mean_path(model):
            out["natural_acc_mean"] = accuracy(model, data.private_test, device)
    return out


def evaluator_config(suite: Suite, data: DataRoles) -> dict[str, Any]:
    """What determines a judge trained from the suite's recipe (and what its exported file records)."""
    return {**suite_key(suite, data), **arch_key(suite.evaluator_arch, suite.evaluator_arch_params),
            "classes": suite.judge_classes, "recipe": dataclasses.asdict(suite.evaluator_recipe),
            "trainer_version": TRAINER_VERSION}


def _make_judge(suite: Suite, device: torch.device) -> Classifier:
    torch.manual_seed(suite.train_seed)
    backbone = MODELS.get(suite.evaluator_arch)(**suite.evaluator_arch_params)
    return Classifier(backbone, nn.Linear(backbone.feature_dim, suite.judge_classes)).to(device)


def _judge_accuracies(model: Classifier, data: DataRoles, device: torch.device) -> dict[str, float]:
    return {"accuracy": accuracy(model, data.evaluator_test, device),
            "accuracy_private": accuracy(model, data.private_test, device)}


def train_evaluator(suite: Suite, data: DataRoles, cache: Cache, device: torch.device, *,
                    shipped: bool = True, assets_dirs: tuple = (), imported: tuple[Path, str] | None = None) -> Trained:
    """The suite's judge (cached). ``imported`` (a published file and its SHA-256, ``--weights
    evaluator=FILE``) comes first; else, with ``suite.evaluator_asset`` (and ``shipped``), its weights
    are the pinned file, identical on every machine; otherwise it is trained from the suite's recipe
    on ``data.evaluator_train``. Its accuracy is measured on ``evaluator_test`` (every class it
    answers) and on private_test."""
    asset = suite.evaluator_asset if shipped else None
    if imported is not None:
        config = {**suite_key(suite, data), **arch_key(suite.evaluator_arch, suite.evaluator_arch_params),
                  "classes": suite.judge_classes, "weights": {"evaluator": imported[1]}}

        def prepare(model: Classifier) -> None:
            import_classifier(model, imported[0])
    elif asset is not None:
        config = {**suite_key(suite, data), **arch_key(suite.evaluator_arch, suite.evaluator_arch_params),
                  "classes": suite.judge_classes, "weights": {asset.name: asset.sha256}}

        def prepare(model: Classifier) -> None:
            load_checked(model, load_state_dict(asset, assets_dirs), asset.filename)
    else:
        config = evaluator_config(suite, data)

        def prepare(model: Classifier) -> None:
            fit(model, data.evaluator_train, suite.evaluator_recipe, device=device, seed=suite.train_seed,
                description=f"evaluator [{suite.evaluator_arch}, {suite.judge_classes} classes]")

    def build() -> dict:
        model = _make_judge(suite, device)
        prepare(model)
        return {"state_dict": cpu_state(model), **_judge_accuracies(model, data, device)}

    payload = cache.get_or_build("evaluators", config, build)
    model = _make_judge(suite, device)
    model.load_state_dict(payload["state_dict"])
    extra = {"accuracy_private": float(payload["accuracy_private"])}
    return Trained(model.eval(), float(payload["accuracy"]), content_key(config), extra)


def load_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)``; a mismatch is an :class:`AssetError` listing the keys."""
    own = model.state_dict()
    missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
    shapes = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        raise AssetError(f"{source} does not fit {type(model).__name__}: missing keys {sorted(missing)[:8]}, "
                         f"unexpected keys {sorted(unexpected)[:8]}, wrong shapes {sorted(shapes)[:8]}")
    model.load_state_dict(state)


def private_features(evaluator: Trained, data: DataRoles, cache: Cache, device: torch.device) -> torch.Tensor:
    def build() -> dict:
        return {"features": batched(evaluator.model.features, data.private_train.images, device)}

    return cache.get_or_build("features", {"evaluator": evaluator.key, "role": "private_train"}, build)["features"]


def prior_key(suite: Suite, public: PublicImages, prior: Prior, params: dict[str, Any],
              target_key: str | None) -> dict[str, Any]:
    """What determines a prior: the suite, the public images, the prior and, for a target-scoped
    prior, the target. The attack that requests it is not part of the key."""
    key = {"suite": suite.name, "suite_version": suite.version, "train_seed": suite.train_seed,
           "public": public.fingerprint, "prior": prior.name, "prior_version": prior.version, "params": params,
           **determinism.cache_scope()}
    return {**key, "target": target_key} if prior.scope == "target" else key


def prior_context(suite: Suite, public: PublicImages, prior: Prior, device: torch.device,
                  view: Any = None) -> PriorContext:
    return PriorContext(public=public, image_shape=suite.image_shape, num_classes=suite.num_classes, device=device,
                        seed=suite.train_seed, target=view if prior.scope == "target" else None,
                        target_arch=suite.target_arch if prior.scope == "target" else None)


def prior_state(cache: Cache, suite: Suite, public: PublicImages, prior: Prior, params: dict[str, Any],
                ctx: PriorContext, target_key: str | None = None, view: Any = None) -> dict[str, Any]:
    """The cached state of ``prior`` (built if missing), keyed by its scope; a target-scoped
    prior's build queries count in every run that uses it (:func:`counted_build`)."""
    key = prior_key(suite, public, prior, params, target_key)
    if prior.scope == "public":
        return cache.get_or_build("priors", key, lambda: prior.train(ctx))
    return counted_build(cache, "priors", key, lambda: prior.train(ctx), view)


def build_public_prior(cache: Cache, suite: Suite, public: PublicImages, name: str, params: dict[str, Any],
                       device: torch.device) -> dict[str, Any]:
    """The cached state of a ``scope = "public"`` prior (built if missing): what a sweep builds once
    before the attacks that share it."""
    prior = PRIORS.get(name)(params)
    if prior.scope != "public":
        raise ConfigError(f"prior {name!r} has scope {prior.scope!r}; only public priors are built without a target")
    return prior_state(cache, suite, public, prior, params, prior_context(suite, public, prior, device))


def prior_loader(cache: Cache, suite: Suite, public: PublicImages, prior_params: dict[str, dict[str, Any]],
                 attack_name: str, target_key: str, view: Any, device: torch.device,
                 timings: dict[str, float], hashes: dict[str, str] | None = None) -> Callable[[str], Any]:
    """``prior(name)`` for an attack's context: trains (or loads from the cache) each requested prior
    once per run and hands out the loaded object; ``timings["prior:<name>"]`` gets its seconds (part
    of the attack's) and ``hashes["prior:<name>"]`` the checksum of its state
    (:mod:`mibench.stage_hashes`). A target-scoped prior's build queries count in every run that uses it."""
    loaded: dict[str, Any] = {}

    def prior(name: str) -> Any:
        if name not in prior_params:
            raise ConfigError(f"attack {attack_name!r} asked for the prior {name!r} without declaring it; add it to "
                              f"its `priors` (declared: {', '.join(prior_params) or '(none)'})")
        if name not in loaded:
            obj, start = PRIORS.get(name)(prior_params[name]), time.perf_counter()
            ctx = prior_context(suite, public, obj, device, view)
            state = prior_state(cache, suite, public, obj, prior_params[name], ctx, target_key, view)
            loaded[name] = obj.load(state, ctx)
            timings[f"prior:{name}"] = round(time.perf_counter() - start, 3)
            if hashes is not None:
                hashes[f"prior:{name}"] = tree_sha256(state)
        return loaded[name]

    return prior


QUERIES = "target_queries"
"""Payload key of the target queries an artifact's build spent."""


def counted_build(cache: Cache, kind: str, key: dict, build: Callable[[], dict], view: Any) -> dict:
    """``cache.get_or_build`` that stores the target queries the build spent and, when the artifact
    comes from the cache, adds them to the view's count: a run's ``attack_queries`` is the same
    cold or warm."""
    before = view.queries

    def build_counted() -> dict:
        payload = build()
        return {**payload, QUERIES: view.queries - before}

    with fixed_noise(view, content_key(key)):  # a stochastic target's noise: a function of the key
        payload = cache.get_or_build(kind, key, build_counted)
    if view.queries == before:
        view.queries += int(payload.get(QUERIES, 0))
    return payload


def attack_artifact(cache: Cache, target_key: str, public: PublicImages, attack_name: str, attack_version: str,
                    view: Any, hashes: dict[str, str] | None = None):
    """``artifact(name, config, build)`` for an attack: keyed by the target, the public data and the
    attack; the build's target queries count in every run that uses the artifact.
    ``hashes["artifact:<name>"]`` gets the checksum of each artifact (:mod:`mibench.stage_hashes`)."""

    def artifact(name: str, config: dict, build: Callable[[], dict]) -> dict:
        key = {"target": target_key, "public": public.fingerprint, "attack": attack_name,
               "attack_version": attack_version, "artifact": name, "config": config}
        payload = counted_build(cache, "attacks", key, build, view)
        if hashes is not None:
            hashes[f"artifact:{name}"] = tree_sha256(payload)
        return payload

    return artifact


def eval_artifact(cache: Cache, evaluator_key: str):
    """``artifact(name, config, build)`` for evaluators: keyed by the judge (hence the suite's data)."""

    def artifact(name: str, config: dict, build: Callable[[], dict]) -> dict:
        return cache.get_or_build("evaluation", {"evaluator": evaluator_key, "name": name, **config}, build)

    return artifact


def load_judge(suite: Suite, data: DataRoles, cache: Cache, device: torch.device, timings: dict, *,
               assets_dirs: tuple = (), imported: tuple[Path, str] | None = None) -> tuple[Trained, torch.Tensor]:
    """The suite's judge (:func:`train_evaluator`) and its features of private_train, timed as the
    ``evaluator`` and ``private_features`` stages in ``timings`` (a :class:`mibench.runner.Timings`)."""
    with timings.stage("evaluator"):
        judge = train_evaluator(suite, data, cache, device, assets_dirs=assets_dirs, imported=imported)
    with timings.stage("private_features"):
        feats = private_features(judge, data, cache, device)
    return judge, feats


def judge_weights(suite: Suite, imported: tuple[Path, str] | None) -> dict[str, str]:
    """The judge's weights file and its SHA-256, as a record's ``evaluator_weights`` lists it (none
    for a judge trained from the suite's recipe)."""
    if imported is not None:
        return {imported[0].name: imported[1]}
    asset = suite.evaluator_asset
    return {asset.filename: asset.sha256} if asset is not None else {}


def eval_context(suite: Suite, judge: Trained, data: DataRoles, feats: torch.Tensor, recon: Reconstructions,
                 cache: Cache, device: torch.device, assets_dirs: tuple = ()) -> EvalContext:
    """What the evaluators receive: the judge, private_train, its features and the reconstructions."""
    return EvalContext(evaluator=judge.model, private_train=data.private_train, private_features=feats, recon=recon,
                       device=device, artifact=eval_artifact(cache, judge.key), evaluator_name=suite.evaluator_arch,
                       assets_dirs=tuple(assets_dirs))


def check_metric_declarations(evaluator: Evaluator, metrics: dict) -> None:
    declared = {m.name for m in evaluator.metrics}
    undeclared = sorted(set(metrics) - declared)
    if undeclared:
        raise ConfigError(f"evaluator {evaluator.name!r} returned undeclared metrics {undeclared}; "
                          f"declare them in its `metrics` (declared: {sorted(declared)})")


def evaluate(evaluators: list[Evaluator], ctx: EvalContext) -> dict:
    """Every evaluator's metrics on ``ctx``'s reconstructions (their notes, weights files and
    per-class numbers are left in ``ctx``)."""
    metrics: dict = {}
    for ev in evaluators:
        values = ev.evaluate(ctx)
        check_metric_declarations(ev, values)
        metrics.update(values)
    return metrics


def nearest_private(ctx: EvalContext) -> torch.Tensor:
    """For each reconstruction, the nearest private_train image of its class in the judge's features
    (the KNN metric's neighbour; drawn beside it in the grid)."""
    _, idx = nearest_same_class(ctx.features, ctx.recon.labels, ctx.private_features, ctx.private_train.labels)
    return as_float(ctx.private_train.images[idx])
