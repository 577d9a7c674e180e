"""The one interface every experiment implements, and the runner, `memgen locate` and the CLI call.

An experiment is a model swept over a grid: its config class, its cells, its tasks and the columns of its rows.
Subclass ``Experiment``, fill in the three abstract members, override only the capabilities it has (each has
a documented default here, so callers never ask whether it exists), and add one line to
``runner.registry.EXPERIMENTS``. docs/design.md shows a whole one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Hashable

from pydantic import BaseModel

from memgen_cli.config import SweepConfig

# A row returned by ``run_task`` may carry, under this key, the trial's metrics at training checkpoints: a list
# of dicts, each with its ``step`` (the U-Net with evaluation.every). They become curves.csv's rows.
CHECKPOINTS = "checkpoints"


# A map over the cluster's workers for a task that splits its own work (evaluate's training-set shards): set by the
# executor a task runs under (runner.dask_executor, on a Dask worker), as (map(fn, items) -> results, workers).
# None: the task does all of its work itself. Experiments read it; only the runner sets it.
_worker_map: tuple[Callable, int] | None = None


def set_worker_map(found: tuple[Callable, int] | None) -> None:
    global _worker_map
    _worker_map = found


def worker_map() -> tuple[Callable, int] | None:
    return _worker_map


@dataclass(frozen=True)
class TrialBlock:
    """Trials ``first`` .. ``end - 1`` of a cell, which share one expensive input.

    ``shared_input`` names what that input is drawn from (None: nothing shared) and ``index`` which draw it is
    (the linear model's original set k of (d, N, mu, sigma, bandwidth)). No task straddles two blocks, and tasks
    run grouped by input, so that a worker builds each input once; the order of work never changes a number.
    """

    first: int
    end: int
    shared_input: Hashable | None = None
    index: int = 0


@dataclass(frozen=True)
class Footprint:
    """An order-of-magnitude estimate of what one config setting costs, made before any work: the largest memory
    one task holds at once (bytes) and the whole sweep's arithmetic (floating-point operations). ``field`` names
    the setting a user would change (``grid.N``)."""

    field: str
    memory: float
    work: float


class Experiment(ABC):
    """A model swept over a grid of cells, each cell repeated ``trial_count`` times (trials or simulations)."""

    model: ClassVar[str]  # its name in configs, on the command line and in results
    config_class: ClassVar[type[SweepConfig]]  # the sweep config (pydantic): the one source of its defaults
    title: ClassVar[str] = ""  # what figure captions call it ("U-Net"); "" : "model <name>"
    # Its help (one line) and --set examples live in its package's __init__ (DESCRIPTION, OVERRIDE_EXAMPLES), read by
    # runner.registry.experiment_summary without importing the experiment's numerics.
    # Whether `memgen locate` runs its batches in this process by default: cheap trials that share inputs kept
    # between rounds (the linear model's original sets); else local worker processes.
    locate_in_process: ClassVar[bool] = False
    # Whether the model's errors are infinite by construction while n <= d (the linear model's singular Sigma_G):
    # figures then explain those cells once instead of counting them as missing data.
    errors_infinite_while_n_le_d: ClassVar[bool] = False
    trials_per_task: ClassVar[int] = 1  # trials run and stored together (the unit of resumption)
    binary_metrics: ClassVar[tuple[str, ...]] = ()  # 0/1 columns summarised as proportions with intervals
    mean_metrics: ClassVar[tuple[str, ...]] = ()  # real columns summarised as means with standard errors
    # A trials.csv column naming a random input that several trials share (the linear model's original set):
    # summaries and intervals resample those inputs first, so they cover the input's draw. None: no such input.
    cluster_column: ClassVar[str | None] = None
    # Columns of ``columns`` added after the experiment first stored results: a part written before them may
    # lack them (it stays valid; the column reads as missing there).
    added_columns: ClassVar[tuple[str, ...]] = ()
    # Why the ideal memorizer needs no column of its own, when its P(Delta > 0) is 0 in closed form (the linear
    # model's); None: it is measured (or absent). `memgen analyze` then takes it as 0 (docs/analysis.md).
    analytic_memorizer: ClassVar[str | None] = None
    # Top-level config sections that change no number (where output goes): left out of ``task_inputs``.
    not_inputs: ClassVar[tuple[str, ...]] = ()

    # -- what every experiment defines ------------------------------------------------------------
    @abstractmethod
    def cells(self, config: BaseModel) -> list[dict]:
        """Every cell of the sweep, in order: one flat dict of scalar parameters each (they become CSV columns
        and are hashed into cell ids and seeds)."""

    @abstractmethod
    def columns(self, config: BaseModel) -> tuple[str, ...]:
        """The metric columns of a trial's row, in order: the schema every stored part is checked against."""

    @abstractmethod
    def run_task(self, config: BaseModel, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        """One metric dict per (trial index, seed), in order; keys are ``columns(config)`` (and optionally
        ``CHECKPOINTS``). Pure: the numbers depend on the config, the cell and the seeds only."""

    # -- capabilities, with their defaults ---------------------------------------------------------
    def trial_count(self, config: BaseModel) -> int:
        """Trials (simulations) per cell: the config's repeats field."""
        return int(getattr(config, config.repeats_field))

    def check(self, config: BaseModel) -> None:  # noqa: B027 (a capability whose default is to do nothing)
        """Cross-field checks beyond the config's own validators, before any work (a MemgenError line)."""

    def task_size(self, config: BaseModel) -> int:
        """Trials per task; the config may decide it (U-Net simulations trained together)."""
        return self.trials_per_task

    def trial_blocks(self, config: BaseModel, cell: dict) -> list[TrialBlock]:
        """The cell's trials cut where they stop sharing an input; by default one block, nothing shared."""
        return [TrialBlock(0, self.trial_count(config))]

    def task_config(self, config: dict, out: Path | None) -> dict:
        """The config as tasks see it (paths resolved against the results folder ``out``) and checked before
        the folder is created; by default the stored config itself."""
        return config

    def read_stored_config(self, stored: dict) -> tuple[dict, str]:
        """A config.yaml written by an older memgen, as this one spells it, and a note for the user ("" when
        nothing needed translating)."""
        return stored, ""

    def has_curves(self, config: BaseModel) -> bool:
        """Whether rows carry ``CHECKPOINTS`` (curves.csv)."""
        return False

    def task_inputs(self, config: BaseModel) -> dict:
        """The settings beyond a task's cell, trials and seeds that change its numbers: hashed into the identity
        stored beside each part (so a part is never reused by a run that would have computed it otherwise). By
        default the whole config but the grid (cells say it), the trial count, the root seed (seeds say them)
        and ``not_inputs``."""
        data = config.model_dump(mode="json", by_alias=True)
        skip = {"grid", "model", "seed", config.repeats_field, *self.not_inputs}
        return {key: value for key, value in data.items() if key not in skip}

    def growth_problem(self, old: BaseModel, new: BaseModel) -> str | None:
        """Why a config that only adds grid values or trials to ``old`` would change numbers already stored
        (then it is refused as a different config); None when every stored task keeps its rows."""
        return None

    def grown_config(self, stored: BaseModel, config: BaseModel) -> BaseModel:
        """The config a run of ``config`` into a folder of ``stored``'s results runs: by default ``config``
        itself. An experiment whose added trials must remember how the stored ones were laid out records it here
        (the linear model's earlier trial plans), so that the grown folder's config.yaml reproduces it."""
        return config

    def footprint(self, config: BaseModel) -> list[Footprint]:
        """Estimates checked before any work, so that an absurd size (a typo of three zeros) is one line and not
        an out-of-memory kill hours later; by default none."""
        return []

    def task_resources(self, config: BaseModel) -> dict[str, float] | None:
        """What each task needs from a cluster worker (e.g. {"GPU": 1}); None: nothing special."""
        return None
