"""What a component's paper claims, declared on the component so that any board can re-test it.

A defense lists :class:`Defends` or :class:`HelpsAttack` in its ``claims`` (its rows leak less, or
more, than the undefended target's under the same attack); an attack lists :class:`Stronger` (its
rows leak more than another attack's against the same defense). ``mibench leaderboard claims``
(:mod:`mibench.board.claims`) turns each into contrasts between board cells, with the 95 % interval
of each difference and a verdict, so a plugin's claims are re-tested with no edit outside its file.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Where:
    """Which of a defense's rows a claim is about: ``param op value`` on its parameters (every row
    of the defense whose parameter satisfies it, ladder points included)."""

    param: str
    op: str
    value: float

    def __post_init__(self):
        if self.op not in OPERATORS:
            raise ValueError(f"Where: op must be one of {', '.join(OPERATORS)}, got {self.op!r}")

    def __call__(self, params: dict[str, Any]) -> bool:
        try:
            return OPERATORS[self.op](float(params[self.param]), self.value)
        except (KeyError, TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return f"{self.param} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Defends:
    """The defense's rows leak less than ``none``'s under the same attack.

    ``where``: the rows it is about (default: the default strength only); ``against``: the attacks
    the paper made it against (default: every attack on the board); ``relative_drop`` and
    ``max_accuracy_cost``: a quantified claim (the leakage lower by at least this fraction of
    ``none``'s, at a natural-accuracy cost of at most this much, in accuracy units); ``text``: the
    paper's words."""

    text: str
    where: Where | None = None
    against: tuple[str, ...] = ()
    relative_drop: float = 0.0
    max_accuracy_cost: float | None = None
    direction = -1  # the claimed sign of (defense's leakage - none's)

    @property
    def quantified(self) -> bool:
        """Whether the claim names a size (a relative drop, an accuracy cost), not only a direction."""
        return bool(self.relative_drop) or self.max_accuracy_cost is not None


@dataclass(frozen=True)
class HelpsAttack(Defends):
    """The defense's rows (``where``) leak *more* than ``none``'s: a setting a paper warns helps the
    attacker."""

    direction = 1


@dataclass(frozen=True)
class Stronger:
    """The attack's rows leak more than attack ``than``'s against the same defense (every defense
    at its default strength on the board)."""

    than: str
    text: str
