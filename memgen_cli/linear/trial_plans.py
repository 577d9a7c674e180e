"""How many trials each linear cell runs, and in which rounds.

A *trial plan* is ``trials`` for every cell and ``more_trials``: rules that choose cells by their grid values and
give them more. A folder whose plan grows keeps the plans it grew from (``earlier_trials``, oldest first), and a
cell's trials run in *rounds*, one per increase of its count: round r covers the trials [a, b) that plan r added.
Each round spreads its trials over the cell's K original sets in contiguous blocks, trial i in set
(i - a) K // (b - a). A single round [0, T) is the rule memgen always used (trial i in set i K // T), so a folder
that never grew keeps every number; a grown one adds trials without moving a stored trial to another set, and
its config.yaml (which records the plans) reproduces it from scratch. K is fixed by the cell's first round.
"""

from __future__ import annotations

import itertools
from typing import Annotated, List, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_serializer

from memgen_cli.config import Integer, Real

GRID_KEYS = ("n", "d", "lambda", "T", "N", "covariance", "bandwidth", "ridge")  # a cell's swept parameters


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _chosen(kind) -> object:
    """A rule's values of one grid key: one value or a list."""
    return Annotated[Optional[List[kind]], BeforeValidator(_as_list), Field(min_length=1)]


class CellTrials(BaseModel):
    """Cells chosen by grid values (every key named must hold one of its listed values) and their trials."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    n: _chosen(Integer) = None
    d: _chosen(Integer) = None
    lambda_: _chosen(Real) = Field(default=None, alias="lambda")
    T: _chosen(Real) = None
    N: _chosen(Integer) = None
    covariance: _chosen(str) = None
    bandwidth: _chosen(str) = None
    ridge: _chosen(Real) = None
    trials: Integer = Field(ge=1, description="trials of each chosen cell")

    @model_serializer(mode="wrap")
    def _named_keys_only(self, handler):
        return {key: value for key, value in handler(self).items() if value is not None}

    def chosen(self) -> dict[str, list]:
        """{grid key: its listed values} for the keys the rule names."""
        values = {"n": self.n, "d": self.d, "lambda": self.lambda_, "T": self.T, "N": self.N,
                  "covariance": self.covariance, "bandwidth": self.bandwidth, "ridge": self.ridge}
        return {key: found for key, found in values.items() if found is not None}

    def selects(self, cell: dict) -> bool:
        return all(cell[key] in values for key, values in self.chosen().items())


class TrialPlan(BaseModel):
    """Trials per cell: ``trials``, and more for the cells a ``more_trials`` rule chooses (the largest applies)."""

    model_config = ConfigDict(extra="forbid")
    trials: Integer = Field(ge=1)
    more_trials: List[CellTrials] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _rules_when_given(self, handler):
        data = handler(self)
        if not data.get("more_trials"):
            data.pop("more_trials", None)
        return data

    def count(self, cell: dict) -> int:
        return max([self.trials] + [rule.trials for rule in self.more_trials if rule.selects(cell)])

    def largest(self) -> int:
        return max([self.trials] + [rule.trials for rule in self.more_trials])


def trial_rounds(plans: list[TrialPlan], cell: dict) -> list[tuple[int, int]]:
    """The cell's rounds [a, b), one per increase of its count along the plans (oldest first)."""
    ends: list[int] = []
    for plan in plans:
        count = plan.count(cell)
        if not ends or count > ends[-1]:
            ends.append(count)
    return list(zip([0] + ends[:-1], ends))


def set_blocks(first: int, end: int, sets: int) -> list[tuple[int, int, int]]:
    """(first trial, end, set k) of each set's contiguous block of the round [first, end); a round of fewer
    trials than sets leaves some sets without one."""
    size = end - first
    starts = [first - (-k * size // sets) for k in range(sets + 1)]  # first + ceil(k size / sets)
    return [(starts[k], starts[k + 1], k) for k in range(sets) if starts[k + 1] > starts[k]]


def set_in_round(trial: int, first: int, end: int, sets: int) -> int:
    return (trial - first) * sets // (end - first)


def plans_problem(plans: list[TrialPlan], names: list[str], axes: dict[str, list]) -> str | None:
    """Why these plans (named ``names``, e.g. "earlier_trials[0]", "") cannot be run on a grid whose keys take
    ``axes``' values: a rule that names no key or a value off the grid, or gives no more than its plan's trials,
    or a cell whose trials would shrink from one plan to the next. None when they are sound."""
    for plan, name in zip(plans, names):
        for i, rule in enumerate(plan.more_trials):
            where = f"{name}{'.' if name else ''}more_trials[{i}]"
            if not rule.chosen():
                return (f"{where}: name the cells it chooses by at least one grid key ({', '.join(GRID_KEYS)}), "
                        "e.g. n: [24, 32]")
            for key, values in rule.chosen().items():
                off = [value for value in values if value not in axes[key]]
                if off:
                    return f"{where}.{key}: {off[0]!r} is not a value of the grid's {key} ({axes[key]})"
            if rule.trials <= plan.trials:
                return (f"{where}.trials: {rule.trials} is not more than {name}{'.' if name else ''}trials "
                        f"({plan.trials}); a rule gives the cells it chooses more trials than the others")
    named = sorted({key for plan in plans for rule in plan.more_trials for key in rule.chosen()},
                   key=GRID_KEYS.index)
    for values in itertools.product(*(axes[key] for key in named)):
        cell = dict(zip(named, values))
        counts = [plan.count(cell) for plan in plans]
        for k in range(1, len(plans)):
            if counts[k] < counts[k - 1]:
                which = " ".join(f"{key}={value}" for key, value in cell.items())
                cells = f"the cells with {which}" if which else "every cell"
                return (f"{names[k] or 'trials'}: {cells} would run {counts[k]} trials, fewer than the "
                        f"{counts[k - 1]} of {names[k - 1]}; a cell's trials only grow")
    return None
