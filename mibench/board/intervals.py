"""95 % intervals for a board cell: a two-stage percentile bootstrap over run seeds and reconstructions.

One resample draws the row's run seeds with replacement; for a metric declared a ``fraction`` of
the reconstructions (top-k accuracy), each drawn seed's reconstructions are then resampled too:
within each attacked class (the record's ``per_class`` breakdown, else the run as one group),
the hits of its n reconstructions are redrawn with replacement, which for yes/no outcomes is a
Binomial(n, the class's share) draw. The cell's value in the resample is the mean over the drawn
seeds; the interval is the 2.5th and 97.5th percentiles of 2000 resamples. Any other metric (a
distance, a score) is stored per run only, so it is resampled over run seeds alone, and a row of one
seed gets no interval (NaN). Each cell starts its own generator at seed 0: its interval depends on
its records only, and the same records give the same interval on any machine.
"""

from __future__ import annotations

import math

import numpy as np

from ..records import RunRecord
from .schema import MetricColumn

RESAMPLES = 2000
LEVEL = 0.95
METHOD = (f"{LEVEL * 100:.0f} % intervals: percentile bootstrap ({RESAMPLES} resamples) over run seeds and, for "
          "shares of the reconstructions (accuracies), over the reconstructions of each attacked class; other "
          "metrics over run seeds only (none for a row of one seed)")


def interval(records: list[RunRecord], metric: MetricColumn) -> tuple[float, float]:
    """The 95 % interval of ``metric``'s mean over the runs ``records`` (one per run seed)."""
    means = resample_means(records, metric, np.random.default_rng(0))
    if means is None:
        return math.nan, math.nan
    lo, hi = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def resample_means(records: list[RunRecord], metric: MetricColumn, rng: np.random.Generator) -> np.ndarray | None:
    """``RESAMPLES`` bootstrap draws of ``metric``'s mean over ``records`` (the two stages of the
    module docstring); None where there is nothing to resample (no value, or one run of a metric
    that is no share of the reconstructions)."""
    values = np.array([float(r.metrics.get(metric.name, math.nan)) for r in records])
    if not len(values) or np.isnan(values).any():
        return None
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    strata = _strata(records, metric.name) if metric.fraction else None
    if strata is not None:
        counts, shares = strata
        hits = rng.binomial(counts[picks], shares[picks])  # (resample, seed, class)
        return (hits.sum(-1) / counts[picks].sum(-1)).mean(-1)
    return values[picks].mean(-1) if len(values) > 1 else None


def _strata(records: list[RunRecord], name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per run and group of reconstructions: their count and the metric's share; None without a
    budget. When every run breaks ``name`` down by attacked class, the groups are the classes (the
    budget attacks each with the same number), else each run is one group."""
    by_class = all(len(r.per_class.get(name, {})) == len(r.budget.get("classes", ())) > 0 for r in records)
    counts, shares = [], []
    for rec in records:
        per_class = int(rec.budget.get("per_class", 0)) * int(rec.budget.get("seeds", 0))
        n_classes = len(rec.budget.get("classes", ()))
        if by_class:
            counts.append([per_class] * n_classes)
            shares.append([rec.per_class[name][str(c)] for c in rec.budget["classes"]])
        else:
            counts.append([per_class * n_classes])
            shares.append([rec.metrics[name]])
    if len({len(c) for c in counts}) != 1 or min(min(c) for c in counts) <= 0:
        return None
    return np.array(counts), np.clip(np.array(shares, dtype=float), 0.0, 1.0)
