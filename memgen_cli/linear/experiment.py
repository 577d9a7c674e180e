"""The linear-model sweep: its config (with the paper's defaults), its cells and the work of one task."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Annotated, ClassVar, List, Literal, Optional

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_serializer, model_validator

from memgen_cli.config import IntGrid, Integer, PositiveGrid, Real, SweepConfig, each_value_once
from memgen_cli.experiment import Experiment, Footprint, TrialBlock
from memgen_cli.kde import BANDWIDTH_RULES, KDEReference
from memgen_cli.linear.batch import run_linear_trials
from memgen_cli.linear.cells import LinearCell
from memgen_cli.linear.domain import domain_problem
from memgen_cli.linear.model import GENERALIZER_METRICS, COVARIANCE_CONVENTIONS, original_reference, run_linear_trial
from memgen_cli.linear.reproducibility import pair_from_rngs
from memgen_cli.linear.trial_plans import CellTrials, TrialPlan, plans_problem, set_blocks, set_in_round, trial_rounds
from memgen_cli.seeding import derived_seed

PAPER_LAMBDA = math.exp(-4.0)
ORIGINAL_SET = "original_set"  # trials.csv (original: fixed, several sets): which of the cell's original sets
# A trial's metric columns (model.trial_row), then ORIGINAL_SET where a cell uses several original sets.
TRIAL_METRICS = ("log_E_TG", "log_E_OG", "delta_sign", "log_abs_delta", "delta_positive", "H2", "log_one_minus_H2",
                 "rank_G", "eps_n", "eps_N") + GENERALIZER_METRICS
# Reproducibility (linear.reproducibility): the trial's fit against a partner's on a training set of its own,
# both fed the same noise; last, after ORIGINAL_SET, and ``added_columns``: parts stored before them stay valid.
PAIR_METRICS = ("paired_distance", "log_paired_distance", "reproduced")


class LinearGrid(BaseModel):
    """Swept parameters; each is a list, a scalar or a range {start, stop, num, spacing}."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    n: IntGrid(2) = Field(default=[2, 4, 8, 16, 32, 64], description="training-set size")
    d: IntGrid(1) = Field(default=[16], description="dimension")
    lambda_: PositiveGrid() = Field(default=[PAPER_LAMBDA], alias="lambda", description="noise scale λ")
    T: PositiveGrid() = Field(default=[2.0], description="diffusion time")
    N: IntGrid(2) = Field(default=[10_000], description="original-set size")
    # Options may be swept too (e.g. covariance: [BBt, BtB]): a grid entry sweeps, options.<name> sets one
    # value, and giving both is an error (LinearConfig).
    covariance: Annotated[Optional[List[Literal[COVARIANCE_CONVENTIONS]]],  # type: ignore
                          AfterValidator(each_value_once)] = Field(default=None, min_length=1)
    bandwidth: Annotated[Optional[List[Literal[BANDWIDTH_RULES]]],  # type: ignore
                         AfterValidator(each_value_once)] = Field(default=None, min_length=1)
    ridge: Annotated[Optional[List[Annotated[Real, Field(ge=0, allow_inf_nan=False)]]],
                     AfterValidator(each_value_once)] = Field(default=None, min_length=1)


class GaussianData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mu: Real = Field(default=10.0, allow_inf_nan=False, description="mean of every coordinate")
    sigma: Real = Field(default=1.0, gt=0, allow_inf_nan=False, description="std of every coordinate")


DEFAULT_ORIGINAL_SETS = 10  # why 10: docs/analysis.md, "Several original sets"


class LinearOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bandwidth: Literal[BANDWIDTH_RULES] = "paper"  # type: ignore[valid-type]
    covariance: Literal[COVARIANCE_CONVENTIONS] = "BBt"  # type: ignore[valid-type]
    ridge: Real = Field(default=0.0, ge=0, allow_inf_nan=False)
    original: Literal["fixed", "redraw"] = "fixed"
    # K original sets per (d, N, mu, sigma); a cell's trials are spread evenly over them, so P(Delta > 0)
    # and its interval average over original sets instead of being conditional on one (docs/analysis.md).
    original_sets: Integer = Field(default=DEFAULT_ORIGINAL_SETS, ge=1, le=10_000)
    # Each trial's reproducibility pair (PAIR_METRICS): a partner's draws and fit per trial, a few percent more
    # time (docs/linear-model.md); false leaves the columns out. The default stays out of config.yaml.
    reproducibility: bool = True


SWEEPABLE_OPTIONS = ("covariance", "bandwidth", "ridge")  # settable in options, or swept in grid


class LinearConfig(SweepConfig):
    """A linear-model sweep. Defaults are the paper's settings (Figs. 2-3, d = 16)."""

    model_config = ConfigDict(extra="forbid")
    repeats_field: ClassVar[str] = "trials"  # what the size limits count (config.check_sweep_size)
    trial_plan_fields: ClassVar[tuple[str, ...]] = ("more_trials", "earlier_trials")
    model: Literal["linear"] = "linear"
    seed: Integer = Field(default=0, ge=0)
    trials: Integer = Field(default=300, ge=1)
    # Cells chosen by grid values that run more trials than ``trials`` (e.g. near n*), and the trial plans a
    # folder grew from, oldest first, which memgen records as trials grow (linear/trial_plans.py): both stay
    # out of config.yaml while empty.
    more_trials: List[CellTrials] = Field(default_factory=list, description="cells that run more trials")
    earlier_trials: List[TrialPlan] = Field(default_factory=list, description="the trial plans a folder grew from")
    # BLAS threads of each task, whatever the executor or --workers: how many threads share a product changes
    # its last bits, so the numbers depend on it (and the CSVs are byte-identical for any --workers).
    threads: Integer = Field(default=1, ge=1, le=256, description="BLAS threads of each task")
    grid: LinearGrid = LinearGrid()
    data: GaussianData = GaussianData()
    options: LinearOptions = LinearOptions()

    @model_validator(mode="after")
    def _one_place_per_setting(self) -> "LinearConfig":
        for name in SWEEPABLE_OPTIONS:
            if getattr(self.grid, name) is not None and name in self.options.model_fields_set:
                raise ValueError(f"grid.{name} and options.{name}: both given; a grid entry sweeps several "
                                 f"values, an option sets one: keep one of them")
        if self.options.original == "redraw" and "original_sets" in self.options.model_fields_set:
            raise ValueError("options.original_sets and options.original: redraw: both given; redraw draws a "
                             "fresh original set for every trial, original_sets applies to original: fixed")
        return self

    @model_validator(mode="after")
    def _inside_float64(self) -> "LinearConfig":
        # Values whose trials would underflow or overflow are refused here, not by every task (linear/domain.py).
        g, o = self.grid, self.options
        ridges = [("grid.ridge", r) for r in g.ridge] if g.ridge else [("options.ridge", o.ridge)]
        problem = domain_problem(self.data.sigma, g.d, g.n, g.N, g.bandwidth or [o.bandwidth], g.lambda_, g.T,
                                 ridges)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _sound_trial_plans(self) -> "LinearConfig":
        names = [f"earlier_trials[{i}]" for i in range(len(self.earlier_trials))] + [""]
        if problem := plans_problem(self.trial_plans(), names, self.grid_values()):
            raise ValueError(problem)
        return self

    @model_serializer(mode="wrap")
    def _without_swept_options(self, handler):
        # The resolved config (config.yaml) names each setting once, so it validates again as it is.
        data = handler(self)
        for name in SWEEPABLE_OPTIONS:
            if getattr(self.grid, name) is not None:
                data["options"].pop(name, None)
        if self.options.original == "redraw":
            data["options"].pop("original_sets", None)
        if data["options"].get("reproducibility") is True:
            data["options"].pop("reproducibility")  # the default: folders from before it resume, their inputs unchanged
        if data.get("threads") == 1:
            data.pop("threads")  # the default stays out of config.yaml: folders from before it resume
        for name in ("more_trials", "earlier_trials"):
            if not data.get(name):
                data.pop(name, None)  # as the folders from before them: they resume, config.yaml unchanged
        return data

    def grid_values(self) -> dict[str, list]:
        """Every value each of a cell's parameters takes (an option the grid does not sweep: its one value)."""
        g, o = self.grid, self.options
        return {"n": g.n, "d": g.d, "lambda": g.lambda_, "T": g.T, "N": g.N,
                "covariance": g.covariance or [o.covariance], "bandwidth": g.bandwidth or [o.bandwidth],
                "ridge": g.ridge or [o.ridge]}

    def trial_plans(self) -> list[TrialPlan]:
        """The plans the trials grew through, oldest first; the last is ``trials`` and ``more_trials``."""
        return [*self.earlier_trials, TrialPlan(trials=self.trials, more_trials=self.more_trials)]

    def trial_rounds(self, cell: dict) -> list[tuple[int, int]]:
        """The cell's trials [a, b) of each round (linear/trial_plans.py)."""
        return trial_rounds(self.trial_plans(), cell)

    def spreads_over_sets(self) -> bool:
        """Whether a trial's original set depends on its round (so added trials need a round of their own)."""
        return self.options.original == "fixed" and self.options.original_sets > 1

    def original_set_count(self) -> int:
        """K: whether trials carry their original set (K > 1); at most one set per trial of a cell's first round;
        0 for redraw (every trial its own set)."""
        return 0 if self.options.original == "redraw" else min(self.options.original_sets,
                                                                self.trial_plans()[0].largest())

    def cell_original_sets(self, cell: dict) -> int:
        """The cell's K: at most one set per trial of its first round; 0 for redraw."""
        return 0 if self.options.original == "redraw" else min(self.options.original_sets,
                                                                self.trial_plans()[0].count(cell))


@lru_cache(maxsize=12)
def _fixed_original(seed: int, N: int, d: int, sigma: float, bandwidth: str) -> KDEReference:
    # One original set per (seed, N, d, sigma): shared by the cells that differ only in n, λ or T, and
    # built once per worker process (tasks run set by set, see trial_blocks). 12 hold a group's default 10
    # sets, which `memgen locate`'s rounds (one batch over every set each) revisit in one process.
    rng = np.random.default_rng(seed)
    return original_reference(sigma * rng.standard_normal((N, d)), bandwidth, sigma)


@lru_cache(maxsize=1)
def _thread_pools():
    """The process's BLAS pools, found once: finding them (threadpool_limits does at every call) took 2-9 ms, a
    tenth of a task of 50 trials at d = 16, n = 50. scipy.linalg (the pairs' Cholesky, with a BLAS of its own in
    scipy's wheels) is loaded first so that its pool is among them."""
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def original_seed(root_seed: int, cell: dict, original_set: int = 0) -> int:
    """Seed of a fixed original set of a (flat) cell: depends on what defines that set's distribution and on its
    index, not on n. Set 0 keeps the seed it had when there was one set, so K = 1 reproduces those results."""
    extra = (original_set,) if original_set else ()
    return derived_seed(root_seed, "original", cell["d"], cell["N"], cell["mu"], cell["sigma"], *extra)


def partner_seed(trial_seed: int) -> int:
    """The reproducibility partner's seed: from the trial's seed alone, by a derivation of its own (the trial's
    generator, and so every other column, draws exactly what it drew before the partner existed)."""
    return derived_seed(trial_seed, "reproducibility partner")


def pair_columns(cell: dict, seed: int) -> dict:
    """The PAIR_METRICS of the trial seeded ``seed`` in ``cell`` (a flat cell): its own fit (rebuilt from its seed)
    against its partner's."""
    c = LinearCell.from_cell(cell)
    row = pair_from_rngs(np.random.default_rng(seed), np.random.default_rng(partner_seed(seed)), c.n, c.d, c.lam, c.T,
                         sigma=c.sigma, covariance=c.covariance, ridge=c.ridge)
    return {name: row[name] for name in PAIR_METRICS}


class LinearExperiment(Experiment):
    model = "linear"
    title = "Linear model"
    locate_in_process = True  # its original sets are kept between locate's rounds
    errors_infinite_while_n_le_d = True
    config_class = LinearConfig
    trials_per_task = 50
    binary_metrics = ("delta_positive", "generalizer_delta_positive", "reproduced")
    mean_metrics = ("H2", "log_one_minus_H2", "log_E_TG", "log_E_OG", "log_abs_delta", "generalizer_log_abs_delta",
                    "paired_distance", "log_paired_distance")
    cluster_column = ORIGINAL_SET
    not_inputs = ("more_trials", "earlier_trials")  # task_inputs names the first plan, which fixes the sets
    # the ideal generalizer (issue 22) and the reproducibility pair (issue 28): parts stored before them lack them
    added_columns = GENERALIZER_METRICS + PAIR_METRICS
    analytic_memorizer = ("every memorizer that puts its mass on the training points has Δ < 0: Δ/D = −2^(d/2+1) "
                          "+ O(1) (docs/linear-model.md)")

    def columns(self, config: LinearConfig) -> tuple[str, ...]:
        pairs = PAIR_METRICS if config.options.reproducibility else ()
        return TRIAL_METRICS + ((ORIGINAL_SET,) if config.original_set_count() > 1 else ()) + pairs

    def task_inputs(self, config: LinearConfig) -> dict:
        # With several original sets a cell's first plan fixes its sets (their count, each trial's of the first
        # round); rounds added later leave them, so parts stored before a growth keep their identity.
        inputs = super().task_inputs(config)
        if config.original_set_count() <= 1:
            return inputs
        return {**inputs, **config.trial_plans()[0].model_dump(mode="json", by_alias=True)}

    def footprint(self, config: LinearConfig) -> list[Footprint]:
        """Per task: the training set, its noisy copy and their SVD (n x d each), an original set (N x d) and the
        generated Gaussian's basis (d x min(n, d)); work: a trial's SVD and products (three fits: its own, and
        its reproducibility pair's two), and each original set's pair sums (N^2 d)."""
        g, sets = config.grid, config.original_set_count()
        trials = config.trial_plans()[-1].largest()  # an upper bound where more_trials choose some cells
        repeats = len(g.lambda_) * len(g.T) * len(g.covariance or [0]) * len(g.bandwidth or [0]) * len(g.ridge or [0])
        found, work = [], {"grid.n": 0.0, "grid.N": 0.0}
        for n, d, N in itertools.product(g.n, g.d, g.N):
            held = {"grid.n": 32.0 * n * d, "grid.N": 8.0 * N * d, "grid.d": 16.0 * d * min(n, d)}
            found.append(Footprint(max(held, key=held.get), sum(held.values()), 0.0))
            fits = 3.0 if config.options.reproducibility else 1.0  # the trial's, and its pair's two
            work["grid.n"] += repeats * trials * 4.0 * fits * n * d * min(n, d)
            # fixed sets are shared by a (d, N)'s cells, whatever n; redraw draws one per trial
            pair_sums = repeats * trials if sets == 0 else sets / len(g.n)
            work["grid.N"] += repeats * trials * 2.0 * N * d * min(n, d) + pair_sums * N * N * d
        found.append(Footprint(max(work, key=work.get), 0.0, sum(work.values())))
        return found

    def grown_config(self, stored: LinearConfig, config: LinearConfig) -> LinearConfig:
        """``config`` as it continues a folder of ``stored``: where trials spread over several original sets, a
        changed trial plan is a new round (the stored plans go to earlier_trials); a config that leaves
        earlier_trials out continues the folder's. One that writes its own is taken as written."""
        if config.earlier_trials:
            return config
        earlier, current = list(stored.earlier_trials), stored.trial_plans()[-1]
        if config.trial_plans()[-1] != current and config.spreads_over_sets():
            earlier.append(current)
        if not earlier:
            return config
        try:
            return type(config).model_validate({**config.model_dump(mode="json", by_alias=True), "earlier_trials": [
                plan.model_dump(mode="json", by_alias=True) for plan in earlier]})
        except ValueError:
            return config  # a plan that would shrink a cell: growth_problem says so about the config as given

    def growth_problem(self, old: LinearConfig, new: LinearConfig) -> str | None:
        old_plans, new_plans = old.trial_plans(), new.trial_plans()
        if new_plans == old_plans:
            return None
        for cell in self.cells(old):
            before, after = old_plans[-1].count(cell), new_plans[-1].count(cell)
            if after < before:
                return (f"more_trials: the cell n={cell['n']} d={cell['d']} would run {after} trials, fewer than "
                        f"the {before} stored; a folder's trials only grow (keep the rule that chose it)")
        if old.spreads_over_sets() and new_plans[:len(old_plans)] != old_plans:
            shown = [p.model_dump(mode="json") for p in old_plans]
            return (f"earlier_trials: does not begin with the folder's trial plans {shown}: it would move trials "
                    f"between the {old.original_set_count()} original sets, changing numbers already stored; leave "
                    "earlier_trials out (memgen records the plans as trials grow)")
        return None

    def cells(self, config: LinearConfig) -> list[dict]:
        g, o = config.grid, config.options
        covariances = g.covariance or [o.covariance]
        bandwidths = g.bandwidth or [o.bandwidth]
        ridges = g.ridge or [o.ridge]
        return [LinearCell(n, d, lam, T, N, config.data.mu, config.data.sigma, bw, cov, ridge, o.original).to_cell()
                for d, N, T, lam, cov, bw, ridge, n in itertools.product(g.d, g.N, g.T, g.lambda_, covariances,
                                                                          bandwidths, ridges, g.n)]

    def read_stored_config(self, stored: dict) -> tuple[dict, str]:
        """A config.yaml written by an older memgen, as this one spells it: options that its grid sweeps
        were stored twice (now once), and its fixed-set runs used one original set."""
        options, grid = stored.get("options"), stored.get("grid")
        if not isinstance(options, dict) or not isinstance(grid, dict):
            return stored, ""
        options = {k: v for k, v in options.items() if not (k in SWEEPABLE_OPTIONS and grid.get(k) is not None)}
        note = ""
        if "original_sets" not in options and options.get("original") == "fixed":
            options["original_sets"] = 1
            note = ("this folder was written before options.original_sets existed, with one original set: "
                    "--set options.original_sets=1 continues it")
        return {**stored, "options": options}, note

    def trial_blocks(self, config: LinearConfig, cell: dict) -> list[TrialBlock]:
        """One block per round and original set: a task never straddles two rounds or two sets, and tasks run
        set by set (the input: what the sets are drawn from; its index: the set) so each worker builds each set
        once."""
        rounds, sets = config.trial_rounds(cell), config.cell_original_sets(cell)
        if sets == 0:
            return [TrialBlock(first, end) for first, end in rounds]
        drawn_from = LinearCell.from_cell(cell).original_drawn_from
        return [TrialBlock(start, stop, drawn_from, k) for first, end in rounds
                for start, stop, k in set_blocks(first, end, sets)]

    def run_task(self, config: LinearConfig, cell: dict, trials: list[tuple[int, int]],
                 batched: bool = True) -> list[dict]:
        """The rows of a task's trials, computed with exactly ``config.threads`` BLAS threads. batched=False runs
        them one by one (model.run_linear_trial, and pair_columns for the pairs), the path the batched one is tested
        against (tests/test_batched_trials.py, tests/test_linear_pairs_batched.py): equal up to the last bits."""
        with _thread_pools().limit(limits=config.threads):
            rows = self._rows(config, LinearCell.from_cell(cell), trials, batched)
            if not config.options.reproducibility or (batched and config.original_set_count()):
                return rows  # batched tasks compute their pairs with their trials (pair_batch.py)
            return [{**row, **pair_columns(cell, seed)} for row, (_, seed) in zip(rows, trials)]

    def _rows(self, config: LinearConfig, cell: LinearCell, trials: list[tuple[int, int]],
              batched: bool) -> list[dict]:
        flat, options = cell.to_cell(), cell.fit_options()
        sets = config.cell_original_sets(flat)
        if not sets:  # original: redraw: every trial draws its own set, so there is no product to share
            return [run_linear_trial(np.random.default_rng(seed), cell.n, cell.d, cell.lam, cell.T, cell.N,
                                     mu=cell.mu, **options) for _, seed in trials]
        rounds, labelled, rows = config.trial_rounds(flat), config.original_set_count() > 1, []

        def original_set(trial: tuple[int, int]) -> int:
            first, end = next((a, b) for a, b in rounds if a <= trial[0] < b)
            return set_in_round(trial[0], first, end, sets)

        for k, block in itertools.groupby(trials, key=original_set):
            block = list(block)
            fixed = _fixed_original(original_seed(config.seed, flat, k), cell.N, cell.d, cell.sigma, cell.bandwidth)
            rngs = [np.random.default_rng(seed) for _, seed in block]
            if batched:
                partners = ([np.random.default_rng(partner_seed(seed)) for _, seed in block]
                            if config.options.reproducibility else None)
                block_rows = run_linear_trials(rngs, cell.n, cell.d, cell.lam, cell.T, fixed, partners=partners,
                                               **options)
            else:
                block_rows = [run_linear_trial(rng, cell.n, cell.d, cell.lam, cell.T, cell.N, mu=cell.mu,
                                               original=fixed, **options) for rng in rngs]
            # With one set the rows stay as they always were (no column), so old folders resume.
            rows += [{**row, ORIGINAL_SET: k} if labelled else row for row in block_rows]
        return rows
