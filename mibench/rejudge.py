"""``mibench leaderboard rejudge``: a board's metrics recomputed from its stored reconstructions.

Each selected record's reconstructions (:mod:`mibench.reconstructions`) are checked against the
record's SHA-256 and scored by the suite's current judge and evaluators, through the same
evaluation step as ``mibench run`` (:func:`mibench.stages.evaluate`); no attack runs. Every file is
checked before any evaluation, and nothing is written until every record has been rejudged: the
new records (and one grid per configuration, drawn from its lowest seed's reconstructions) are
staged beside their targets and renamed into place under the board's lock, then the CSV is
rebuilt (:func:`mibench.leaderboard.build`). A record another process changed meanwhile stops the
rejudge before anything is replaced. With ``dry_run`` nothing is written: the differences are
only reported.

A rejudged record keeps its spec, attack and timings; its metrics, per-class numbers, evaluator
notes and weights, the judge's accuracies, the evaluators it lists (name and version) and the
checksums of its ``judge`` and ``metrics`` stages (:mod:`mibench.stage_hashes`) are replaced, and
``rejudged`` says which evaluator versions and which environment recomputed them.
With a subset of evaluators (``evaluators``), the other evaluators' numbers are kept.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import determinism, stages
from . import leaderboard as lb
from . import reconstructions as stored
from .board.schema import check_one_judge
from .cache import Cache, canonical_json, staged_file
from .components import params_dict, resolve_params
from .data import DataRoles
from .errors import ConfigError, LeaderboardError, MibenchError
from .evaluator import Evaluator
from .grid import keep_grid
from .records import RunRecord, versions, write_grid
from .registries import EVALUATORS, SUITES
from .runner import RunOptions, Timings, described, imported_files, resolve_device
from .spec import RunSpec, resolve
from .stage_hashes import module_sha256, tree_sha256
from .suite import Suite


@dataclass
class Rejudged:
    """One record before and after rejudging; ``path`` is relative to the board folder."""

    path: str
    before: RunRecord
    after: RunRecord
    text: str  # the record file as read, to detect a concurrent change before replacing it
    grid: bytes | None = None  # the configuration's grid, drawn when this is its lowest seed

    def changes(self) -> list[tuple[str, Any, Any]]:
        """(name, stored value, rejudged value) of every metric, and of the judge's accuracies, that
        differs; NaN equals NaN."""
        before, after = judged(self.before), judged(self.after)
        names = [*after, *(m for m in before if m not in after)]
        return [(m, before.get(m), after.get(m)) for m in names if not same(before.get(m), after.get(m))]


def judged(rec: RunRecord) -> dict[str, Any]:
    """What the judge decides in a record: its metrics and the judge's own accuracies."""
    return {**rec.metrics, "evaluator_acc": rec.evaluator_acc, "evaluator_acc_private": rec.evaluator_acc_private}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def rerun_command(spec: dict[str, Any], folder: Path) -> str:
    """The ``mibench run`` command that reproduces the record of ``spec`` on the board in ``folder``:
    a ``--set`` for every parameter that differs from the suite's values today."""
    parts = ["mibench run", f"--suite {spec['suite']}", f"--profile {spec['profile']}", f"--defense {spec['defense']}",
             f"--attack {spec['attack']}", f"--seed {spec['seed']}", *(["--control"] if spec.get("control") else [])]
    try:
        default = resolve(spec["suite"], spec["defense"], spec["attack"], spec["profile"],
                          control=bool(spec.get("control"))).to_dict()
    except MibenchError:  # a component no longer registered: every parameter is spelled out
        default = {}
    groups = [("suite", "suite_params", spec.get("suite_params", {})),
              ("defense", "defense_params", spec.get("defense_params", {})),
              ("attack", "attack_params", spec.get("attack_params", {}))]
    groups += [(f"{kind}.{name}", (key, name), params) for kind, key in (("prior", "prior_params"),
                                                                          ("evaluator", "evaluator_params"))
               for name, params in spec.get(key, {}).items()]
    for group, key, params in groups:
        base = default.get(key, {}) if isinstance(key, str) else default.get(key[0], {}).get(key[1], {})
        parts += [f"--set {group}.{k}={v}" for k, v in params.items() if base.get(k) != v]
    parts += [f"--weights {role}=FILE" for role in spec.get("weights", {})]
    return " ".join([*parts, f"--leaderboard-dir {folder}"])


def select(folder: Path, board: str, rows: list[int] | None) -> list[tuple[str, RunRecord]]:
    """The board's records, or those of the CSV's ``rows`` (0-based positions) when given."""
    records = lb.read_records(folder, board)
    if not records:
        raise LeaderboardError(f"no records of board {board} in {lb.records_dir(folder, board)}: pass --dir with the "
                               f"leaderboard folder, or --suite and --profile of a board it holds")
    if rows is None:
        return records
    frame = lb.read_board(Path(folder) / f"{board}.csv")
    bad = [r for r in rows if not 0 <= r < len(frame)]
    if bad:
        raise ConfigError(f"--rows {','.join(map(str, bad))}: board {board} has rows 0 to {len(frame) - 1}")
    hashes = set(frame["config_hash"].iloc[rows])
    return [(path, rec) for path, rec in records if rec.config_hash in hashes]


def read_all(folder: Path, board: str, records: list[tuple[str, RunRecord]]) -> list[bytes]:
    """Every record's stored reconstructions, checked; all problems are reported together, before any work."""
    loaded, problems = [], []
    for path, rec in records:
        name = Path(path).stem
        try:
            loaded.append(stored.read_checked(stored.board_path(folder, board, name), rec.reconstructions_sha256,
                                              lambda: rerun_command(rec.spec, folder)))
        except LeaderboardError as exc:
            problems.append(str(exc))
    if problems:
        raise LeaderboardError(f"cannot rejudge {len(problems)} of the {len(records)} record(s) of {board}; nothing "
                               f"was written:\n- " + "\n- ".join(problems))
    return loaded


@dataclass
class Judge:
    """A suite's judge and what evaluation needs, loaded once for the records that share it."""

    suite: Suite
    data: DataRoles
    model: stages.Trained
    features: torch.Tensor
    imported: tuple[Path, str] | None


class Judges(dict):
    """The judges of a board's records, by suite, suite parameters and imported judge file."""

    def __init__(self, options: RunOptions, cache: Cache, device: torch.device, features: bool = True):
        super().__init__()
        self.options, self.cache, self.device = options, cache, device
        self.features = features  # False: the judge alone (verdicts), without its features of private_train

    def of(self, spec: RunSpec) -> Judge:
        key = canonical_json([spec.suite, spec.suite_params, spec.weights.get("evaluator")])
        if key not in self:
            suite = SUITES.get(spec.suite)(self.options.data_root, spec.suite_params)
            determinism.configure(determinism.thread_count(suite.threads), "fp32")
            judge_only = dataclasses.replace(spec, weights={r: s for r, s in spec.weights.items() if r == "evaluator"})
            imported = imported_files(judge_only, self.options).get("evaluator")
            data = suite.load(self.cache)
            if self.features:
                model, feats = stages.load_judge(suite, data, self.cache, self.device, Timings(),
                                                 assets_dirs=self.options.assets_dirs, imported=imported)
            else:
                model = stages.train_evaluator(suite, data, self.cache, self.device,
                                               assets_dirs=self.options.assets_dirs, imported=imported)
                feats = torch.empty(0)
            self[key] = Judge(suite, data, model, feats, imported)
        return self[key]


def check_evaluators(suite: type[Suite], names: list[str] | None) -> None:
    """``names`` (``--evaluators``) must be among the suite's evaluators."""
    unknown = sorted(set(names or ()) - set(suite.evaluators))
    if unknown:
        raise ConfigError(f"--evaluators {','.join(unknown)}: suite {suite.name!r} evaluates with "
                          f"{', '.join(suite.evaluators)}")


def evaluators_for(suite: Suite, spec: RunSpec, names: list[str] | None) -> list[Evaluator]:
    """The suite's current evaluators (or ``names`` among them) with the record's parameters; one the
    record does not list gets the profile's."""
    out = []
    for name in names if names is not None else suite.evaluators:
        cls = EVALUATORS.get(name)
        params = spec.evaluator_params.get(name)
        if params is None:
            params = params_dict(resolve_params(cls.Params, suite.component_params("evaluators", cls, spec.profile),
                                                owner=f"evaluator {name!r}"))
        out.append(cls(params))
    return out


def rejudge_record(judge: Judge, rec: RunRecord, recon, names: list[str] | None, options: RunOptions,
                   cache: Cache, device: torch.device, draw: bool) -> tuple[RunRecord, bytes | None]:
    """The record with its metrics recomputed on ``recon``, and its grid when ``draw``."""
    spec = RunSpec.from_dict(rec.spec)
    evaluators = evaluators_for(judge.suite, spec, names)
    ctx = stages.eval_context(judge.suite, judge.model, judge.data, judge.features, recon, cache, device,
                              options.assets_dirs)
    metrics = stages.evaluate(evaluators, ctx)
    subset = names is not None

    def merged(old: dict, new: dict) -> dict:
        return {**old, **new} if subset else dict(new)

    run_names = {e.name for e in evaluators}
    listed = [e for e in rec.components.get("evaluators", []) if subset and e.get("name") not in run_names]
    new_metrics = merged(rec.metrics, metrics)
    hashes = {**rec.stage_sha256, "judge": module_sha256(judge.model.model), "metrics": tree_sha256(new_metrics)}
    after = dataclasses.replace(
        rec, metrics=new_metrics, per_class=merged(rec.per_class, ctx.per_class),
        stage_sha256=hashes if rec.stage_sha256 else {},
        evaluator_notes=merged({k: v for k, v in rec.evaluator_notes.items() if k not in run_names}, ctx.notes),
        evaluator_weights=merged(rec.evaluator_weights, {**stages.judge_weights(judge.suite, judge.imported),
                                                         **ctx.weights}),
        metric_specs=merged(rec.metric_specs, {m.name: dataclasses.asdict(m) for e in evaluators for m in e.metrics}),
        evaluator_acc=judge.model.accuracy, evaluator_acc_private=judge.model.extra["accuracy_private"],
        components={**rec.components, "evaluators": [*listed, *(described(EVALUATORS, e) for e in evaluators)]},
        rejudged={"evaluators": {e.name: e.version for e in evaluators}, "device": str(device),
                  "float_env": determinism.describe(), "versions": versions()},
    )
    grid = None
    if draw:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_grid(Path(tmp) / "grid.png", after, recon, stages.nearest_private(ctx),
                              ctx.logits.argmax(1) == recon.labels)
            grid = path.read_bytes()
    return after, grid


def rejudge_board(folder: Path, board: str, options: RunOptions, evaluators: list[str] | None = None,
                  rows: list[int] | None = None, dry_run: bool = False,
                  on_record: Callable[[Rejudged], None] | None = None) -> list[Rejudged]:
    """Rejudge the records of ``board`` in ``folder`` (of the CSV's ``rows`` when given) with the
    current judge and ``evaluators`` (default: all the suite's); write them and rebuild the CSV
    unless ``dry_run``. ``on_record`` sees each result as it is computed."""
    folder = Path(folder)
    if not dry_run:
        lb.check_board_file(folder, board, options.overwrite_edited_board)  # an edited CSV is not rebuilt
    selected = select(folder, board, rows)
    texts = [(folder / path).read_text() for path, _ in selected]  # as read: a concurrent change stops the commit
    records = [(path, RunRecord.from_json(text)) for (path, _), text in zip(selected, texts)]
    for suite in {rec.spec["suite"] for _, rec in records}:
        check_evaluators(SUITES.get(suite), evaluators)
    files = read_all(folder, board, records)
    cache, device = Cache(options.cache_root), resolve_device(options.device)
    judges = Judges(options, cache, device)
    lowest = {}
    for _, rec in records:
        lowest[rec.config_hash] = min(lowest.get(rec.config_hash, rec.spec["seed"]), rec.spec["seed"])
    results = []
    for (path, rec), data, text in zip(records, files, texts):
        draw = not dry_run and rec.spec["seed"] == lowest[rec.config_hash]
        after, grid = rejudge_record(judges.of(RunSpec.from_dict(rec.spec)), rec, stored.decode(data), evaluators,
                                     options, cache, device, draw)
        result = Rejudged(path, rec, after, text, grid)
        results.append(result)
        if on_record:
            on_record(result)
    if not dry_run:
        commit(folder, board, results)
    return results


def commit(folder: Path, board: str, results: list[Rejudged]) -> Path:
    """Replace the records (and grids) with the rejudged ones, all staged first, under the board's
    lock; then rebuild the CSV."""
    with lb.board_lock(folder, board):
        changed = [r.path for r in results if (folder / r.path).read_text() != r.text]
        if changed:
            raise LeaderboardError(f"{', '.join(changed)} changed while rejudging (a run added them again); nothing "
                                   f"was written: run the rejudge again")
        after = {r.path: r.after for r in results}
        check_one_judge([(path, after.get(path, rec)) for path, rec in lb.read_records(folder, board)])
        staged: list[tuple[Path, Path]] = []
        try:
            for r in results:
                staged.append((staged_file(folder / r.path, r.after.to_json().encode()), folder / r.path))
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, target in staged:
            os.replace(tmp, target)
        seeds: dict[str, list[int]] = {}
        for r in results:
            seeds.setdefault(r.after.config_hash, []).append(r.after.spec["seed"])
        for r in results:
            if r.grid is not None:
                keep_grid(folder / "grids" / board, r.after.config_hash, r.after.spec["seed"],
                          seeds[r.after.config_hash], r.grid)
        return lb.build(folder, board)


