"""A board's columns, computed from what its records declare: the only place a column list is made.

Every record carries its evaluators' metric declarations (``RunRecord.metric_specs``, from
:class:`mibench.evaluator.Metric`) and its suite's primary metric. :meth:`BoardSchema.from_records`
turns them into the board's metric columns in declaration order, each with its direction (from the
attacker's side, as declared), text or number, and tolerance kind (absolute for a ``fraction`` of
the reconstructions, relative for a distance or score). A declaration field that a record predates
takes the value the installed evaluator declares, else the :class:`Metric` default. Nothing here
names a metric: a new evaluator's metrics reach every view, the site and the check from its own file.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import LeaderboardError
from ..evaluator import Metric
from ..records import RunRecord
from .provenance import check_one_protocol

UTILITY = "natural_acc"
"""The defended target's accuracy on private_test: the utility axis of every view, checked absolutely."""
IDENTITY = ["suite", "profile", "defense", "attack", "control", "config_hash"]
HEAD = ["strength", "variant", "n_seeds", "seeds", UTILITY, "evaluator_acc"]
PROVENANCE = ["target_arch", "evaluator", "defense_params", "attack_params", "n_classes", "n_per_class",
              "budget_seeds", "attack_queries", "defense_version", "attack_version", "mibench_version",
              "torch_version", "threads", "cpu_capability", "device", "git_commit", "runtime_s", "records"]
LABEL = ["defense", "strength", "variant", "attack", "control"]
"""What names a row for a reader: every view that lists rows starts with these (``variant`` only where a row has one)."""
SHOWN_FIRST = [*LABEL, "n_seeds", UTILITY]
SHOWN_AFTER_METRICS = ["attack_queries"]
SD, LO, HI = "_sd", "_lo", "_hi"
"""Suffixes of a number metric's companion columns: sd over run seeds, 95 % interval (mibench.board.intervals)."""


@dataclass(frozen=True)
class MetricColumn:
    """One metric column of a board, as its evaluator declared it."""

    name: str
    higher_is_better: bool
    kind: str = "number"
    fraction: bool = False
    diagnostic: bool = False
    fmt: str = ".4g"
    description: str = ""

    @property
    def number(self) -> bool:
        return self.kind != "text"

    @property
    def headline(self) -> bool:
        """Shown, ranked, charted and checked (a number that is not a diagnostic)."""
        return self.number and not self.diagnostic

    @property
    def tolerance(self) -> str:
        """``abs`` for a fraction of the reconstructions, ``rel`` for a distance or score."""
        return "abs" if self.fraction else "rel"

    @property
    def sign(self) -> int:
        """+1 where a higher value leaks more, -1 where a lower one does: ``sign * value`` is leakage."""
        return 1 if self.higher_is_better else -1

    @property
    def private_side(self) -> str:
        return "lower" if self.higher_is_better else "higher"


def _installed() -> dict[str, dict[str, Any]]:
    """The metric declarations of the evaluators installed here (a plugin that fails to load is skipped)."""
    from ..errors import MibenchError
    from ..registries import EVALUATORS

    out: dict[str, dict[str, Any]] = {}
    for name in EVALUATORS.names():
        try:
            metrics = EVALUATORS.get(name).metrics
        except MibenchError:
            continue
        out.update({m.name: dataclasses.asdict(m) for m in metrics})
    return out


def _column(spec: dict[str, Any], installed: dict[str, dict[str, Any]]) -> MetricColumn:
    declared = {**installed.get(spec["name"], {}), **spec}
    fields = {f.name for f in dataclasses.fields(MetricColumn)}
    defaults = {k: v for k, v in dataclasses.asdict(Metric(spec["name"], True)).items() if k in fields}
    return MetricColumn(**{**defaults, **{k: v for k, v in declared.items() if k in fields}})


@dataclass(frozen=True)
class BoardSchema:
    """The metric columns of a board (declaration order) and its primary metric."""

    metrics: tuple[MetricColumn, ...]
    primary: str | None

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, RunRecord]]) -> "BoardSchema":
        """The schema of the board the ``(path, record)`` pairs build: each metric as first declared,
        the primary metric the records name most often. Records scored by different judges are an
        error (:func:`check_one_judge`)."""
        records = list(records)
        check_one_protocol(records)
        check_one_judge(records)
        specs: dict[str, dict[str, Any]] = {}
        primaries: Counter = Counter()
        for _, rec in records:
            for name, spec in rec.metric_specs.items():
                specs.setdefault(name, {**spec, "name": name})
            primaries[rec.primary_metric] += 1
        return cls.from_specs(specs, [p for p, _ in primaries.most_common()])

    @classmethod
    def from_specs(cls, specs: dict[str, dict[str, Any]], primaries: Iterable[str] = ()) -> "BoardSchema":
        """From metric declarations (name -> ``Metric`` fields); the primary metric is the first of
        ``primaries`` that is a headline metric here, else the first headline metric."""
        installed = _installed()
        metrics = tuple(_column({**spec, "name": name}, installed) for name, spec in specs.items())
        headline = [m.name for m in metrics if m.headline]
        primary = next((p for p in primaries if p in headline), headline[0] if headline else None)
        return cls(metrics, primary)

    def metric(self, name: str | None = None) -> MetricColumn:
        """The column ``name`` (default: the primary metric); an unknown name is an error listing the known."""
        name = name or self.primary
        for m in self.metrics:
            if m.name == name:
                return m
        raise LeaderboardError(f"the board has no metric {name!r}; its metrics: {', '.join(self.names()) or '(none)'}")

    def names(self) -> list[str]:
        """The headline metrics, in declaration order."""
        return [m.name for m in self.metrics if m.headline]

    def csv_columns(self) -> list[str]:
        """Every column of the CSV: identity, head, each metric with its companions, provenance."""
        metric_cols = []
        for m in self.metrics:
            companions = (SD, LO, HI) if m.headline else (SD,) if m.number else ()
            metric_cols += [m.name, *(m.name + suffix for suffix in companions)]
        return IDENTITY + HEAD + metric_cols + PROVENANCE

    def shown(self) -> list[str]:
        """The columns ``leaderboard show`` and the site list: identity, utility, headline metrics,
        queries, and the text metrics that qualify them."""
        texts = [m.name for m in self.metrics if not m.number and not m.diagnostic]
        return SHOWN_FIRST + self.names() + SHOWN_AFTER_METRICS + texts

    def checked(self) -> list[str]:
        """The columns ``leaderboard check`` compares: the utility, then every headline metric."""
        return [UTILITY, *self.names()]


def present(frame, columns: list[str]) -> list[str]:
    """``columns`` less those ``frame`` lacks and a ``variant`` column that no row fills (a board of
    default runs and ladder points has nothing to say there)."""
    return [c for c in columns if c in frame.columns
            and (c != "variant" or frame[c].fillna("").astype(str).ne("").any())]


def judge_of(rec: RunRecord) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What scored a record: the judge's architecture and the weights files (judge and metrics) by SHA-256."""
    return rec.evaluator_arch, tuple(sorted(rec.evaluator_weights.items()))


def check_one_judge(records: list[tuple[str, RunRecord]]) -> None:
    """A board's numbers are comparable only when one judge scored them all: records of two judges
    (another architecture or weights file, or, where both records carry it, another checksum of the
    judge's weights) are a :class:`LeaderboardError` naming both and a record of each."""
    first: dict[Any, str] = {}
    for path, rec in records:
        first.setdefault(judge_of(rec), path)
    trained = {rec.stage_sha256["judge"]: path for path, rec in records if rec.stage_sha256.get("judge")}
    if len(first) > 1 or len(trained) > 1:
        named = "; ".join(f"{judge} ({path})" for judge, path in (first if len(first) > 1 else trained).items())
        raise LeaderboardError(f"the board mixes records scored by different judges: {named}. Rescore every record "
                               f"with one judge (`mibench leaderboard rejudge`), or move the other judge's records to a "
                               f"board folder of their own")
