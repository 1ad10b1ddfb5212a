"""mibench sweep: the grid's plan, its prepare jobs, resuming from the board, failure reporting
(with a stand-in for Ray), a Ray address that does not answer, and a real two-worker local Ray
sweep on the mnist quick profile."""

import json
import time
from pathlib import Path

import pytest

from mibench import sweep
from mibench.errors import ConfigError, MibenchError, UnknownComponentError
from mibench.leaderboard import read_records
from mibench.runner import RunOptions
from mibench.spec import resolve


def test_plan_is_every_defense_x_attack_x_seed_plus_the_controls():
    specs = sweep.plan("tiny", "quick", "none,calor", "plg,gmi", seeds=[0, 1])
    rows = {(s.defense, s.attack, s.control, s.seed) for s in specs}
    assert len(specs) == len(rows) == 2 * 2 * 2 + 2 * 2  # the controls of plg and gmi, against none
    assert ("none", "gmi", True, 1) in rows and ("calor", "plg", False, 0) in rows
    assert len(sweep.plan("tiny", "quick", "none", "plg", seeds=[0], controls=False)) == 1


def test_plan_pins_imported_weights_and_suite_parameters_in_every_row():
    pins = {"evaluator": "ab" * 32}
    specs = sweep.plan("celeba64", "tiny", "none,mid", "plg", seeds=[0, 1], weights=pins,
                       suite_params={"target": "vgg16"})
    assert len(specs) == 2 * 2 and all(s.weights == pins and s.suite_params["target"] == "vgg16" for s in specs)
    assert specs[0].config_hash != sweep.plan("celeba64", "tiny", "none", "plg", seeds=[0])[0].config_hash
    target = {"target": "cd" * 32}
    assert all(s.weights == target for s in sweep.plan("celeba64", "tiny", "none", "plg", seeds=[0], weights=target))
    with pytest.raises(ConfigError, match=r"cannot be combined with --defense mid"):
        sweep.plan("celeba64", "tiny", "none,mid", "plg", seeds=[0], weights=target)


def test_sweep_weights_reach_the_workers_as_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = sweep.absolute(RunOptions(out=Path("runs"), weights={"evaluator": Path("FaceNet_95.88.tar")}))
    assert options.weights == {"evaluator": tmp_path / "FaceNet_95.88.tar"}


def test_plan_refuses_an_unknown_name_and_lists_the_known_ones():
    with pytest.raises(UnknownComponentError, match=r"unknown attack 'gmii'. Did you mean 'gmi'\? Known attacks: blank, brep, gmi"):
        sweep.plan("tiny", "quick", "all", "plg,gmii")


def test_one_prepare_job_per_target_and_per_prior_and_each_run_needs_its_own():
    specs = sweep.plan("tiny", "quick", "none,calor", "plg,gmi,brep,kedmi", seeds=[0, 1], controls=False)
    prepare, runs = sweep.jobs(specs)
    kinds = [(j.kind, j.needs != ()) for j in prepare]
    # public priors first (gmi-wgan, shared by gmi and brep), then the targets (none, calor), then the
    # target-scoped priors after their target (kedmi's GAN, for each target)
    assert kinds == [("prior", False)] + [("target", False)] * 2 + [("prior", True)] * 2
    names = {j.name for j in prepare}
    assert all(set(r.needs) <= names and r.needs[0].startswith("target ") for r in runs)
    by_name = {r.name: r for r in runs}
    gmi, kedmi = by_name["calor x gmi seed 0"], by_name["calor x kedmi seed 0"]
    assert [n.split(" (")[0] for n in gmi.needs] == ["target calor", "prior gmi-wgan"]
    assert kedmi.needs[1].startswith("prior kedmi-gan (") and kedmi.needs[1].endswith(f"for {kedmi.needs[0]}")
    assert len(runs) == len(specs)
    assert [r.spec.seed for r in runs] == [0] * 8 + [1] * 8  # seed by seed: no two seeds of one row side by side


def test_pending_drops_the_rows_already_on_the_board(tmp_path):
    specs = sweep.plan("tiny", "quick", "none", "plg", seeds=[0, 1], controls=False)
    from mibench.runner import run

    run(specs[0], RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards"))
    assert sweep.pending(specs, tmp_path / "boards") == specs[1:]
    # a row written by another version of its attack (fixed since) is not done: it is recomputed
    (path, _), = read_records(tmp_path / "boards", "tiny-quick")
    raw = json.loads((tmp_path / "boards" / path).read_text())
    raw["components"]["attack"]["version"] = "0"
    (tmp_path / "boards" / path).write_text(json.dumps(raw))
    assert sweep.pending(specs, tmp_path / "boards") == specs
    from mibench.cli._common import replacing
    assert replacing(specs, tmp_path / "boards") == " (1 replacing records of older component versions)"
    assert replacing(specs[1:], tmp_path / "boards") == ""


class FakeRay:
    """Runs the jobs in this process, in the order submitted; ``fail`` names the jobs whose task raises."""

    def __init__(self, fail=()):
        self.fail, self.results = set(fail), {}

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref, timeout=None):
        value = self.results[ref]
        if isinstance(value, BaseException):
            raise value
        return value


class FakeTask:
    """``task.remote``: a task given the ref of a failed task fails with its error, as Ray's do."""

    def __init__(self, ray):
        self.ray = ray

    def remote(self, job, options, tracker, *needed):
        ref = object()
        raised = [self.ray.results[n] for n in needed if isinstance(self.ray.results[n], BaseException)]
        self.ray.results[ref] = raised[0] if raised else RuntimeError(f"worker died running {job.name}") \
            if job.name in self.ray.fail else {"seconds": 1.0}
        return ref


class FakeTracker:
    class names:
        @staticmethod
        def remote():
            return "started"


def follow(jobs, fail=()):
    ray = FakeRay(fail={j.name for j in fail})
    ray.results["started"] = set()
    lines = []
    progress = sweep.Progress(log=lines.append)
    for job in jobs:
        progress.set(job.name, "pending")
    failed = sweep._follow(ray, FakeTask(ray), FakeTracker(), jobs, None, progress, lambda: None)
    return failed, progress, lines


def test_a_failed_task_is_reported_and_the_others_finish():
    specs = sweep.plan("tiny", "quick", "none", "plg", seeds=[0, 1, 2], controls=False)
    _, runs = sweep.jobs(specs)
    failed, progress, lines = follow(runs, fail=[runs[1]])
    assert failed == {runs[1].name}
    assert progress.counts() == {"pending": 0, "running": 0, "done": 2, "failed": 1}
    assert "worker died running" in progress.details[runs[1].name]
    # a log file gets one line per change of state, counting the finished tasks
    assert len(lines) == 3 and lines[-1].startswith("[3/3] ")
    assert any(line.startswith("[2/3] failed: none x plg seed 1 (") and "worker died" in line for line in lines)


def test_the_jobs_that_need_a_failed_prior_are_not_run_and_the_others_finish():
    specs = sweep.plan("tiny", "quick", "none", "gmi,kedmi", seeds=[0, 1], controls=False)
    prepare, runs = sweep.jobs(specs)
    gan = next(j for j in prepare if j.name.startswith("prior kedmi-gan"))
    failed, progress, _ = follow(prepare + runs, fail=[gan])
    kedmi = [r.name for r in runs if r.spec.attack == "kedmi"]
    assert failed == {gan.name, *kedmi}
    assert "worker died" in progress.details[gan.name]
    assert all(progress.details[n] == f"not run: {gan.name} failed" for n in kedmi)
    assert all(progress.states[r.name] == "done" for r in runs if r.spec.attack == "gmi")


def test_the_prepare_tasks_that_built_something_are_logged_for_leaderboard_costs(tmp_path):
    from mibench.board.costs import costs, read_tasks

    specs = sweep.plan("tiny", "quick", "none", "gmi", seeds=[0], controls=False)
    prepare, runs = sweep.jobs(specs)
    ray = FakeRay()
    ray.results["started"] = set()

    class Built(FakeTask):  # the prior is built (2.5 s), the target found in the cache
        def remote(self, job, options, tracker, *needed):
            ref = object()
            self.ray.results[ref] = {"seconds": 1.0, "top1": 0.5} if job.kind == "run" else \
                {"seconds": 2.5, "built": ["priors"] if job.kind == "prior" else []}
            return ref

    sweep._follow(ray, Built(ray), FakeTracker(), prepare + runs, RunOptions(leaderboard_dir=tmp_path),
                  sweep.Progress(), lambda: None)
    lines = read_tasks(sweep.task_costs_path(tmp_path, "tiny-quick"))
    assert [(line["kind"], line["prior"], line["seconds"]) for line in lines] == [("prior", "gmi-wgan", 2.5)]
    frame = costs([], lines).set_index("attack")
    assert frame.loc["prior gmi-wgan (sweep task)", "runs"] == 1 and frame.loc["all", "mean_total_s"] == 2.5


def test_a_ray_address_that_does_not_answer_is_an_error_within_seconds():
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="nothing answers at 127.0.0.1:9"):
        sweep.check_address("ray://127.0.0.1:9", timeout=2)
    assert time.perf_counter() - start < 5
    with pytest.raises(ConfigError, match="expected auto, ray://HOST:PORT or HOST:PORT"):
        sweep.check_address("somewhere")


@pytest.mark.slow
def test_a_two_worker_ray_sweep_fills_the_board_and_a_rerun_has_nothing_left(tmp_path, private_cache):
    pytest.importorskip("mnist")
    options = RunOptions(device="cpu", out=tmp_path / "runs", leaderboard_dir=tmp_path / "boards")
    specs = sweep.plan("mnist", "quick", "none", "gmi", seeds=[0, 1], controls=False)
    progress = sweep.run_sweep(specs, options, workers=2)
    assert progress.counts()["done"] == 4, progress.details  # prior, target, two runs
    records = [r for _, r in read_records(tmp_path / "boards", "mnist-quick")]
    assert sorted(r.spec["seed"] for r in records) == [0, 1]
    assert all(r.spec["attack"] == "gmi" and 0 <= r.metrics["attack_acc_top1"] <= 1 for r in records)
    # the runs found the target and the prior in the cache: the prepare tasks built them once
    assert all("priors" in r.cache["reused"] and "targets" in r.cache["reused"] for r in records)
    assert sweep.pending(specs, tmp_path / "boards") == []
    logged = (tmp_path / "boards" / "costs" / "mnist-quick.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["kind"] for line in logged) == ["prior", "target"]  # what no record holds
