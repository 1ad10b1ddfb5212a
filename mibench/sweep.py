"""``mibench sweep``: the defense x attack x seed grid as tasks on Ray (docs/sweeps.md).

The grid is resolved before anything runs (an unknown name or parameter fails up front), then
the rows already on the board are dropped: a rerun of an interrupted sweep resumes with the rest.
The work is a graph of tasks on a Ray instance (a local one by default, an existing cluster with
``--address``), each started as soon as the tasks it needs are done:

1. *prepare*: one task per distinct public prior (``scope = "public"``, e.g. GMI's WGAN-GP), one
   per distinct target (the defense's training, the judge, its private features), and, once its
   target is done, one per distinct target-scoped prior (KED-MI's GAN, LOMMA's surrogates): each is
   built once and stored in the content-addressed cache;
2. *runs*: one task per (defense, attack, seed) row, started when its target and priors are done;
   each finds them in the cache and adds its record to the board under the board's file lock. A
   row that needs no long prior (GMI on a new target) runs while another worker trains a GAN.

A failed task is reported with its error and does not stop the others; the tasks that need it are
reported failed without running. Tasks see the cache, output and leaderboard
folders by path, so a cluster of several machines needs them on a shared filesystem (docs/sweeps.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from . import determinism
from .cache import Cache, content_key
from .errors import ConfigError, MibenchError
from .leaderboard import board_name, finished
from .registries import ATTACKS, DEFENSES, PRIORS, SUITES
from .spec import RunSpec, control_attacks, resolve

STATES = ("pending", "running", "done", "failed")
WORKER_START_TIMEOUT = 300


def _names(value: str, registry) -> list[str]:
    if value == "all":
        return registry.usable_names()
    names = [n for n in value.split(",") if n]
    for n in names:
        registry.get(n)  # an unknown name lists the registered ones
    return names


def plan(suite: str, profile: str, defenses: str = "all", attacks: str = "all", seeds: Iterable[int] = (0, 1, 2),
         controls: bool = True, weights: dict[str, str] | None = None,
         suite_params: dict[str, Any] | None = None) -> list[RunSpec]:
    """Every row of the grid, resolved: each defense at its default strength x each attack x each seed,
    plus, with ``controls``, the control row of each attack that has one (against ``none``); a
    control-only attack (``blank``) makes only that row. ``weights``
    (role -> SHA-256) pins imported classifier files in every row: ``evaluator`` for any grid,
    ``target`` only for a grid of ``none`` (a defense trains its own target). ``suite_params`` (``--set
    suite.PARAM=VALUE``) apply to every row."""
    seeds = list(seeds)
    suite_cls = SUITES.get(suite)
    suite_cls().profile(profile)
    attack_names = _names(attacks, ATTACKS)
    sets = {"suite": dict(suite_params or {})}
    specs = [resolve(suite, d, a, profile, s, sets, weights=weights)
             for d in _names(defenses, DEFENSES) for a in attack_names if not ATTACKS.get(a).control_only
             for s in seeds]
    if controls:
        with_control = control_attacks(suite_cls)
        specs += [resolve(suite, "none", a, profile, s, sets, control=True, weights=weights)
                  for a in attack_names if a in with_control for s in seeds]
    return specs


def pending(specs: list[RunSpec], board_dir: Path) -> list[RunSpec]:
    """The rows whose record is not yet on the board."""
    if not specs:
        return []
    done = finished(board_dir, board_name(specs[0].suite, specs[0].profile))
    return [s for s in specs if (s.config_hash, s.seed) not in done]


def label(spec: RunSpec) -> str:
    return f"{spec.defense} x {spec.attack}{' (control)' if spec.control else ''} seed {spec.seed}"


@dataclass(frozen=True)
class Job:
    """One Ray task: ``kind`` is ``target``, ``prior`` or ``run``; ``needs`` names the jobs it waits for."""

    kind: str
    name: str
    spec: RunSpec
    prior: str = ""
    needs: tuple[str, ...] = ()


def jobs(specs: list[RunSpec]) -> tuple[list[Job], list[Job]]:
    """The prepare jobs (public priors, targets, then target-scoped priors, one per distinct
    artifact) and the run jobs, seed by seed: rows that run side by side then rarely need the
    same artifact at once. Ray starts ready tasks in this order, so the long builds start first."""
    public: dict[str, Job] = {}
    targets: dict[str, Job] = {}
    scoped: dict[str, Job] = {}
    runs = []
    for spec in specs:
        target = f"target {spec.defense} ({_short(spec.defense_params)})"
        targets.setdefault(target, Job("target", target, spec))
        needs = [target]
        for name, params in spec.prior_params.items():
            if PRIORS.get(name).scope == "public":
                prior = f"prior {name} ({_short(params)})"
                public.setdefault(prior, Job("prior", prior, spec, prior=name))
            else:
                prior = f"prior {name} ({_short(params)}) for {target}"
                scoped.setdefault(prior, Job("prior", prior, spec, prior=name, needs=(target,)))
            needs.append(prior)
        runs.append(Job("run", label(spec), spec, needs=tuple(needs)))
    prepare = list(public.values()) + list(targets.values()) + list(scoped.values())
    return prepare, sorted(runs, key=lambda job: job.spec.seed)


def _short(params: dict[str, Any]) -> str:
    return content_key(params)[:8]


# --- the tasks (run inside Ray workers) ------------------------------------------------------------
class Tracker:
    """A Ray actor the tasks tell when they start (what the table shows as running)."""

    def __init__(self):
        self.started: set[str] = set()

    def start(self, name: str) -> None:
        self.started.add(name)

    def names(self) -> set[str]:
        return self.started


def execute(job: Job, options, tracker=None, *needed: Any) -> dict[str, Any]:
    """Run one job in this process (``needed``: the results of the jobs it waited for, unused);
    returns a summary for the progress table."""
    from .runner import Pipeline, run

    if tracker is not None:
        tracker.start.remote(job.name)
    start = time.perf_counter()
    if job.kind == "run":
        record = run(job.spec, options)
        return {"top1": record.metrics.get(record.primary_metric), "seconds": time.perf_counter() - start}
    pipe = Pipeline(job.spec, options)
    pipe.configure()
    if job.kind == "target":
        pipe.prepare()
    elif PRIORS.get(job.prior).scope == "public":
        pipe.build_public_prior(job.prior)
    else:
        pipe.build_target_prior(job.prior)
    return {"seconds": time.perf_counter() - start, "built": list(pipe.cache.builds),
            "float_env": determinism.describe()}


def task_costs_path(leaderboard_dir: Path, board: str) -> Path:
    """Where a sweep appends what its target and prior tasks cost (no record holds it):
    ``<leaderboard dir>/costs/<board>.jsonl``, read by ``mibench leaderboard costs``."""
    return Path(leaderboard_dir) / "costs" / f"{board}.jsonl"


def record_task_cost(leaderboard_dir: Path, job: Job, summary: dict[str, Any]) -> None:
    """Append one line for a prepare task that built something (a task that found its artifact in
    the cache cost nothing worth counting)."""
    spec = job.spec
    line = {"kind": job.kind, "name": job.name, "prior": job.prior, "defense": spec.defense,
            "defense_params": spec.defense_params, "seconds": round(summary["seconds"], 3), "built": summary["built"],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "float_env": summary.get("float_env", {})}
    path = task_costs_path(leaderboard_dir, board_name(spec.suite, spec.profile))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # one short line per write, from the driver alone
        f.write(json.dumps(line, default=str) + "\n")


# --- the driver --------------------------------------------------------------------------------------
@dataclass
class Progress:
    """The state of every job, shown as a rich table."""

    states: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    log: Callable[[str], None] | None = None
    """Where a line goes at each change of state: set when the output is a log file, not a terminal
    (a SLURM job's, ``nohup``'s), where the live table is only drawn at the end."""

    def set(self, name: str, state: str, detail: str = "") -> None:
        changed = self.states.get(name) != state
        self.states[name] = state
        if detail:
            self.details[name] = detail
        if changed and self.log is not None and state != "pending":
            counts = self.counts()
            self.log(f"[{counts['done'] + counts['failed']}/{len(self.states)}] {state}: {name}"
                     + (f" ({detail})" if detail else ""))

    def counts(self) -> dict[str, int]:
        return {s: sum(v == s for v in self.states.values()) for s in STATES}

    def table(self, title: str) -> Table:
        counts = self.counts()
        table = Table(title=f"{title}: " + ", ".join(f"{counts[s]} {s}" for s in STATES))
        table.add_column("task")
        table.add_column("state")
        table.add_column("detail", overflow="fold")
        colour = {"pending": "dim", "running": "yellow", "done": "green", "failed": "red"}
        for name, state in self.states.items():
            table.add_row(name, f"[{colour[state]}]{state}", self.details.get(name, ""))
        return table


def absolute(options):
    """``options`` with every folder absolute (a task may run in another working directory) and the
    cache root fixed (every worker uses the driver's cache)."""
    out = Path(options.out).resolve()
    return dataclasses.replace(
        options, out=out, cache_root=Cache(options.cache_root).root.resolve(),
        leaderboard_dir=Path(options.leaderboard_dir or out / "leaderboards").resolve(),
        data_root=Path(options.data_root).resolve() if options.data_root else None,
        assets_dirs=tuple(Path(p).resolve() for p in options.assets_dirs),
        weights={role: Path(p).resolve() for role, p in options.weights.items()})


def check_address(address: str | None, timeout: float = 5.0) -> None:
    """Fail within ``timeout`` seconds when a ``ray://HOST:PORT`` or ``HOST:PORT`` address does not answer."""
    if address in (None, "", "auto", "local"):
        return
    host_port = address.split("://", 1)[-1]
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected auto, ray://HOST:PORT or HOST:PORT")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"--address {address}: nothing answers at {host}:{port} within {timeout:.0f} s ({exc}); "
                          f"start the head with `ray start --head` there, or drop --address for a local instance")


def start_ray(address: str | None, workers: int | None):
    import ray

    check_address(address)
    env = {"env_vars": {"MIBENCH_QUIET": "1"}}
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                              "runtime_env": env}
    try:
        if address in (None, "", "local"):
            ray.init(num_cpus=workers or os.cpu_count(), **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"--address {address}: no Ray cluster found ({exc}); start one with `ray start --head` "
                          f"or drop --address for a local instance") from None
    return ray


def run_sweep(specs: list[RunSpec], options, address: str | None = None, workers: int | None = None,
              console: Console | None = None, on_update: Callable[[Progress], None] | None = None) -> Progress:
    """Run the prepare and run jobs on Ray, each when the jobs it needs are done; returns the final
    state of every job."""
    console = console or Console(stderr=True)
    options = absolute(options)
    prepare, runs = jobs(specs)
    progress = Progress()
    for job in prepare + runs:
        progress.set(job.name, "pending")
    if not console.is_terminal:
        progress.log = lambda line: console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False, soft_wrap=True)
    ray = start_ray(address, workers)
    try:
        gpus = 1 if str(options.device).startswith("cuda") else 0  # Ray gives each task its own GPU
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(execute)
        tracker = ray.remote(num_cpus=0)(Tracker).remote()
        try:  # the first worker process: fail within a minute when workers cannot start at all
            ray.get(tracker.names.remote(), timeout=WORKER_START_TIMEOUT)
        except Exception as exc:
            raise MibenchError(f"Ray could not start a worker within {WORKER_START_TIMEOUT} s: {_reason(exc)} "
                               f"(see the raylet.err log of the Ray session)") from None
        with Live(progress.table("mibench sweep"), console=console, refresh_per_second=2,
                  transient=False) as live:
            def show() -> None:
                live.update(progress.table("mibench sweep"))
                if on_update:
                    on_update(progress)

            _follow(ray, task, tracker, prepare + runs, options, progress, show)
            show()
    finally:
        ray.shutdown()
    return progress


def _follow(ray, task, tracker, batch: list[Job], options, progress: Progress, show: Callable[[], None]) -> set[str]:
    """Submit ``batch`` (each job after the jobs it needs), follow it to the end; returns the names of
    the jobs that failed. A job whose needed job failed is reported as not run."""
    refs: dict[str, Any] = {}
    for job in batch:
        refs[job.name] = task.remote(job, options, tracker, *(refs[n] for n in job.needs if n in refs))
    jobs_of = {ref: job for ref, job in zip(refs.values(), batch)}
    failed: set[str] = set()
    left = list(refs.values())
    while left:
        ready, left = ray.wait(left, num_returns=1, timeout=1.0)
        for name in ray.get(tracker.names.remote()):
            if progress.states.get(name) == "pending":
                progress.set(name, "running")
        for ref in ready:
            job = jobs_of[ref]
            try:
                summary = ray.get(ref)
            except Exception as exc:  # a task's error (or a killed worker) is reported, the others go on
                missing = [n for n in job.needs if n in failed or _raised(ray, refs.get(n))]
                progress.set(job.name, "failed", f"not run: {missing[0]} failed" if missing else _reason(exc))
                failed.add(job.name)
            else:
                detail = f"{summary['seconds']:.0f} s" + (f", top-1 {summary['top1']:.3f}" if "top1" in summary else "")
                progress.set(job.name, "done", detail)
                if job.kind != "run" and summary.get("built") and options is not None:
                    record_task_cost(options.leaderboard_dir, job, summary)
        show()
    return failed


def _raised(ray, ref) -> bool:
    """Whether the finished task of ``ref`` raised (False for a task not yet finished)."""
    if ref is None or not ray.wait([ref], num_returns=1, timeout=0)[0]:
        return False
    try:
        ray.get(ref)
    except Exception:
        return True
    return False


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, MibenchError):
        return f"{type(cause).__name__}: {cause}"
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
