"""Planning: a config's cells cut into seeded tasks, and one task's rows.

A task's seeds depend only on (root seed, cell, trial index), never on the order work runs in. Experiments
plug in through ``memgen_cli.experiment.Experiment`` and are found by name in ``runner.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memgen_cli.experiment import CHECKPOINTS, Experiment
from memgen_cli.results_format import IDENTIFIERS, STEP_COLUMN, TRIAL_COLUMNS
from memgen_cli.runner.registry import get_experiment
from memgen_cli.seeding import cell_id, trial_seed


@dataclass
class Task:
    """A chunk of trials of one cell: the unit of work, of storage and of resumption.

    ``labels`` are keys that tell apart cells with the same parameters (``memgen locate``'s repeated batches
    at one n): they enter the cell id, the seeds and the rows, never the experiment's ``run_task``.
    """

    cell_index: int
    cell: dict
    cell_id: str
    trials: list[tuple[int, int]]  # (trial index, seed)
    labels: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.cell_id}-{self.trials[0][0]:06d}-{self.trials[-1][0]:06d}"

    @property
    def row_cell(self) -> dict:
        """The parameter columns of its rows: the cell, then its labels."""
        return {**self.cell, **self.labels}

    def describe(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.row_cell.items())
        return f"cell {self.cell_index} ({params}) trials {self.trials[0][0]}-{self.trials[-1][0]}"


def work_counts(experiment: Experiment, config) -> tuple[int, int, int]:
    """(cells, trials per cell, tasks), cut as ``plan_tasks`` cuts them but without a seed per trial: a dry
    run answers at once whatever the size. Some cells may run more trials (``planned_trials`` counts them)."""
    count, size = experiment.trial_count(config), experiment.task_size(config)
    cells = experiment.cells(config)
    tasks = sum(-(-(block.end - block.first) // size) for cell in cells
                for block in experiment.trial_blocks(config, cell))
    return len(cells), count, tasks


def planned_trials(experiment: Experiment, config) -> int:
    """Every trial of the sweep, over its cells' blocks (cells may differ in their count)."""
    return sum(block.end - block.first for cell in experiment.cells(config)
               for block in experiment.trial_blocks(config, cell))


def plan_tasks(experiment: Experiment, config, cells: list[tuple[dict, dict]] | None = None) -> list[Task]:
    """Every task of the sweep, in a fixed order; seeds depend only on (root seed, cell, trial).

    ``cells``: (parameters, labels) pairs to plan instead of the config's own cells (``memgen locate``'s
    points). Tasks run grouped by the input their trials share (``Experiment.trial_blocks``), so a worker
    builds each one once; the order of work never changes a number.
    """
    size = experiment.task_size(config)
    if cells is None:
        cells = [(cell, {}) for cell in experiment.cells(config)]
    tasks, inputs = [], []
    for index, (cell, labels) in enumerate(cells):
        named = {**cell, **labels}
        cid = cell_id(experiment.model, named)
        for block in experiment.trial_blocks(config, cell):  # the cell's trials, whatever their count
            for start in range(block.first, block.end, size):
                seeds = [(t, trial_seed(config.seed, experiment.model, named, t))
                         for t in range(start, min(start + size, block.end))]
                tasks.append(Task(index, cell, cid, seeds, labels))
                inputs.append(block)
    return _grouped_by_input(tasks, inputs)


def _grouped_by_input(tasks: list[Task], blocks: list) -> list[Task]:
    """Stable order: by the first appearance of a shared input, then by its index, then as planned."""
    if all(block.shared_input is None for block in blocks):
        return tasks
    rank: dict = {}
    for block in blocks:
        rank.setdefault(block.shared_input, len(rank))
    order = sorted(range(len(tasks)), key=lambda i: (rank[blocks[i].shared_input], blocks[i].index, i))
    return [tasks[i] for i in order]


_worker_configs: dict[str, Any] = {}


class TaskRows(list):
    """A task's trials.csv rows, and in ``curves`` its curves.csv rows (None: the experiment has none)."""

    curves: list[dict] | None = None


def execute_task(payload: tuple[str, dict, Task]) -> list[dict]:
    """Run one task (in a worker process): the trials.csv rows of its trials (and their curve rows).

    Each row holds the identifiers, the cell's parameters and labels, the trial columns, then exactly the
    experiment's columns in its order: a row with a column missing or extra is an error, never stored."""
    model, config_dict, task = payload
    experiment = get_experiment(model)
    key = repr(config_dict)
    if key not in _worker_configs:  # validate once per worker, not once per task
        _worker_configs.clear()
        _worker_configs[key] = experiment.config_class.model_validate(config_dict)
    config = _worker_configs[key]
    columns = experiment.columns(config)
    metrics = experiment.run_task(config, task.cell, task.trials)
    model_col, cell_col, id_col = IDENTIFIERS
    trial_col, seed_col = TRIAL_COLUMNS
    rows, curves = TaskRows(), []
    for (trial, seed), row in zip(task.trials, metrics, strict=True):
        lead = {model_col: model, cell_col: task.cell_index, id_col: task.cell_id, **task.row_cell, trial_col: trial,
                seed_col: seed}
        rows.append({**lead, **_in_schema(row, columns, model)})
        for point in row.get(CHECKPOINTS) or ():
            curves.append({**lead, STEP_COLUMN: point[STEP_COLUMN], **point})
    if experiment.has_curves(config):
        rows.curves = curves
    return rows


def _in_schema(row: dict, columns: tuple[str, ...], model: str) -> dict:
    given = [k for k in row if k != CHECKPOINTS]
    if sorted(given) != sorted(columns):
        missing, extra = set(columns) - set(given), set(given) - set(columns)
        raise RuntimeError(f"{model}: a trial's row does not match the experiment's columns (missing "
                           f"{sorted(missing)}, unexpected {sorted(extra)})")
    return {c: row[c] for c in columns}
