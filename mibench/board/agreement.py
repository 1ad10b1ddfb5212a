"""``mibench leaderboard agreement``: two evaluators' verdicts on a board's stored reconstructions.

For every record of a board, its reconstructions (:mod:`mibench.reconstructions`, checked against the
record's SHA-256) are judged by two evaluators that have a yes/no test (:meth:`Evaluator.verdicts`):
``first`` (say ``accuracy-v2``, the mnist judge without a "no digit" class) and ``second`` (say
``accuracy``, the suite's judge). Per board row (and per attack over the rows at the default
strength): how many reconstructions there are, how many ``first`` counts as successes, and how many of
those ``second`` rejects; nothing is rerun and nothing is written. This is how the share of judge v2's
successes that judge v3 rejects is measured per attack (docs/protocol-card.md, judge).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import reconstructions as stored
from .. import stages
from ..cache import Cache
from ..errors import ConfigError
from ..evaluator import Evaluator
from ..leaderboard import aggregate
from ..registries import EVALUATORS
from ..rejudge import Judges, read_all, select
from ..runner import RunOptions, resolve_device
from ..spec import RunSpec
from .schema import LABEL

COLUMNS = ("reconstructions", "first_successes", "rejected_by_second")


@dataclass
class Counts:
    reconstructions: int = 0
    first_successes: int = 0
    rejected_by_second: int = 0

    def add(self, first, second) -> None:
        self.reconstructions += len(first)
        self.first_successes += int(first.sum())
        self.rejected_by_second += int((first & ~second).sum())


def agreement(folder: Path, board: str, first: str, second: str, options: RunOptions,
              rows: list[int] | None = None) -> pd.DataFrame:
    """One row per board row: its labels and the :data:`COLUMNS` counts (``first``'s successes that
    ``second`` rejects). An evaluator without a yes/no test is an error before any work."""
    evaluators = {name: EVALUATORS.get(name)() for name in (first, second)}
    without = [name for name, ev in evaluators.items() if type(ev).verdicts is Evaluator.verdicts]
    if without:
        raise ConfigError(f"evaluator {without[0]!r} has no yes/no test per reconstruction; evaluators that do: "
                          f"{', '.join(n for n in EVALUATORS.names() if EVALUATORS.get(n).verdicts is not Evaluator.verdicts)}")
    records = select(Path(folder), board, rows)
    files = read_all(Path(folder), board, records)
    cache, device = Cache(options.cache_root), resolve_device(options.device)
    judges = Judges(options, cache, device, features=False)  # a verdict needs the judge, not private features
    counts: dict[str, Counts] = {}
    for (_, rec), data in zip(records, files):
        judge = judges.of(RunSpec.from_dict(rec.spec))
        ctx = stages.eval_context(judge.suite, judge.model, judge.data, judge.features, stored.decode(data), cache,
                                  device, options.assets_dirs)
        verdicts = {name: ev.verdicts(ctx) for name, ev in evaluators.items()}
        missing = [name for name, v in verdicts.items() if v is None]
        if missing:
            raise ConfigError(f"evaluator {missing[0]!r} gave no verdicts: {ctx.notes.get(missing[0], 'no note')}")
        counts.setdefault(rec.config_hash, Counts()).add(verdicts[first], verdicts[second])
    frame = aggregate(records)[[*LABEL, "config_hash", "n_seeds"]]
    for column in COLUMNS:
        frame[column] = [getattr(counts[h], column) for h in frame["config_hash"]]
    frame["rejected_share"] = frame["rejected_by_second"] / frame["first_successes"].where(frame["first_successes"] > 0)
    return frame


def by_attack(frame: pd.DataFrame, default_rows: pd.DataFrame) -> pd.DataFrame:
    """The counts summed per attack (and control) over ``default_rows`` (the rows at the defenses'
    default strengths, :func:`mibench.board.views.default_rows`)."""
    kept = frame[frame["config_hash"].isin(default_rows["config_hash"])]
    out = kept.groupby(["attack", "control"], sort=True)[list(COLUMNS)].sum().reset_index()
    out["rejected_share"] = out["rejected_by_second"] / out["first_successes"].where(out["first_successes"] > 0)
    return out
