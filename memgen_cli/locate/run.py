"""`memgen locate`'s driver: rounds of batches run as sweeps into one results folder, then nstar.csv.

Round 0 scans every combination at the scan sizes; each later round asks ``search.decide`` where each
unfinished combination needs its next batches and runs them. A batch is a cell of its own: the point's
parameters plus ``batch`` (0, 1, ... at that n), so its seeds derive from (root seed, cell, trial) like
any sweep's, and a point at n holds the same trials whichever round adds it. The runner stores each batch's
tasks as checked parts, so a killed search rerun with the same command replays its decisions from the
stored trials (they depend on nothing else) and runs only what is missing: the same nstar.csv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment
from memgen_cli.locate.search import SEARCHING, Counts, Decision, decide
from memgen_cli.locate.setup import LocateSetup
from memgen_cli.results_format import NSTAR_FILE, POINTS_FILE, SUMMARY_FILE, TRIALS_FILE
from memgen_cli.runner.plan import plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.results_folder import write_tables_locked
from memgen_cli.runner.sweep import run_sweep, tables_from_rows
from memgen_cli.seeding import cell_id
from memgen_cli.statistics.summary import wilson_interval

MAX_ROUNDS = 10_000  # a guard: every round adds trials and the budget ends each search
# A label of a point's cells that tells apart its repeated batches of trials: it enters the cell id, the seeds and
# the rows (trials.csv's ``batch`` column), never the experiment's parameters.
BATCH_KEY = "batch"


@dataclass
class LocateResult:
    nstar: pd.DataFrame
    points: pd.DataFrame
    trials: pd.DataFrame
    rounds: int
    tasks_run: int = 0
    notes: list[str] = field(default_factory=list)


def combination_columns(setup: LocateSetup) -> list[str]:
    """The parameters that name a combination: every template column but n."""
    return [c for c in setup.combinations[0] if c != "n"] if setup.combinations else []


def run_locate(setup: LocateSetup, out: Path | None, *, executor: str = "local", workers: int | None = None,
               force: bool = False, argv: list[str] | None = None,
               on_round: Callable[[int, int, list[Decision]], None] | None = None,
               on_note: Callable[[str], None] | None = None) -> LocateResult:
    """Search n* for every combination; with ``out`` write (and resume) the folder and nstar.csv.

    Combinations that share an expensive input (the linear model's original sets) are searched together,
    one such group after another, so a process builds each input once rather than once per round."""
    experiment = get_experiment(setup.model)
    task_config = setup.task_config()
    s = setup.settings
    cells: list[tuple[dict, dict]] = []  # (parameters, labels) of every point's batches so far
    owner: dict[str, tuple[int, int]] = {}  # cell id -> (combination, n)
    batches: list[dict[int, int]] = [dict() for _ in setup.combinations]  # per combination: n -> batches
    refinements = [0] * len(setup.combinations)
    decisions: list[Decision | None] = [None] * len(setup.combinations)
    tasks_run, notes, frames, rounds = 0, [], [], 0
    counts: list[Counts] = []
    for group in input_groups(experiment, task_config, setup.combinations):
        pending = {c: list(setup.scans[c]) for c in group}
        while pending and rounds < MAX_ROUNDS:
            added = set()
            for c, sizes in pending.items():
                for n in sizes:
                    b = batches[c].get(n, 0)
                    batches[c][n] = b + 1
                    cell, labels = {**setup.combinations[c], "n": n}, {BATCH_KEY: b}
                    named = cell_id(experiment.model, {**cell, **labels})
                    added.add(named)
                    owner[named] = (c, n)
                    cells.append((cell, labels))
            # Cell numbers count every point so far; only this round's tasks run (and have their parts read).
            tasks = [t for t in plan_tasks(experiment, task_config, cells) if t.cell_id in added]
            result = run_sweep(task_config, out, executor=executor, workers=workers, force=force and rounds == 0,
                               argv=argv, on_note=on_note, tasks=tasks, stored_config=setup.stored)
            rounds += 1
            tasks_run += result.tasks_run
            notes += result.notes
            if result.failed:
                first = result.failed[0]
                where = f" (traceback: {Path(out) / first['log']})" if out and first.get("log") else ""
                raise MemgenError(f"{len(result.failed)} task(s) failed, e.g. cell {first['params']}: "
                                  f"{first['error']}{where}")
            frames.append(result.trials)
            counts = counts_by_combination(setup, pd.concat(frames, ignore_index=True), owner,
                                           experiment.cluster_column)
            pending = {}
            for c in group:
                if decisions[c] is not None and decisions[c].status != SEARCHING:
                    continue
                decisions[c] = decide(counts[c], setup.scans[c], s.rel_width, s.max_trials, s.per_round,
                                      refinements[c])
                if decisions[c].next_sizes:
                    pending[c] = list(decisions[c].next_sizes)
                    refinements[c] += len(decisions[c].next_sizes) if decisions[c].method == "logistic" else 0
            if on_round:
                on_round(rounds - 1, sum(len(f) for f in frames), list(decisions))
    nstar = nstar_table(setup, decisions, counts, batches)
    points = points_table(setup, counts)
    trials, summary = tables_from_rows(experiment, frames, experiment.columns(task_config))
    if out is not None:  # each round's run wrote its own rows; the tables of every round replace them
        write_tables_locked(Path(out), {TRIALS_FILE: trials, SUMMARY_FILE: summary, NSTAR_FILE: nstar,
                                        POINTS_FILE: points})
    return LocateResult(nstar, points, trials, rounds, tasks_run, notes)


def input_groups(experiment: Experiment, config, combinations: list[dict]) -> list[list[int]]:
    """Combinations grouped by the input their trials share (``TrialBlock.shared_input``), in first-seen order."""
    groups: dict = {}
    for c, cell in enumerate(combinations):
        groups.setdefault(experiment.trial_blocks(config, cell)[0].shared_input, []).append(c)
    return list(groups.values())


def counts_by_combination(setup: LocateSetup, trials: pd.DataFrame, owner: dict,
                          cluster_column: str | None = None) -> list[Counts]:
    """Per combination, the target's successes and trials per (n, cluster): the original set where trials
    carry one (their interval then covers the sets' draw), else each trial its own cluster."""
    s = setup.settings
    if trials.empty or s.target not in trials.columns:
        raise MemgenError(f"locate.target: the trials have no column {s.target!r}")
    which = trials["cell_id"].map(lambda i: owner[i][0]).to_numpy()
    y = trials[s.target].astype(float).to_numpy()
    if s.direction == "down":
        y = 1 - y
    finite = np.isfinite(y)
    if cluster_column is not None and cluster_column in trials.columns:
        cluster = trials[cluster_column].to_numpy(dtype=float)
    else:
        cluster = np.arange(len(trials), dtype=float)
    result = []
    for c in range(len(setup.combinations)):
        rows = (which == c) & finite
        frame = pd.DataFrame({"n": trials["n"].to_numpy()[rows], "cluster": cluster[rows], "y": y[rows]})
        agg = frame.groupby(["n", "cluster"], sort=True)["y"].agg(["sum", "count"]).reset_index()
        result.append(Counts(agg["n"].to_numpy(dtype=int), agg["cluster"].to_numpy(),
                             agg["sum"].to_numpy(dtype=float), agg["count"].to_numpy(dtype=float)))
    return result


def nstar_table(setup: LocateSetup, decisions: list[Decision], counts: list[Counts],
                batches: list[dict[int, int]]) -> pd.DataFrame:
    rows = []
    for c, decision in enumerate(decisions):
        params = {k: v for k, v in setup.combinations[c].items() if k != "n"}
        half = math.sqrt(decision.hi / decision.lo) - 1 if decision.lo > 0 else float("nan")
        rows.append({**params, "n_star": decision.n_star, "n_star_lo": decision.lo, "n_star_hi": decision.hi,
                     "status": decision.status, "method": decision.method, "rel_half_width": half,
                     "rel_width_target": setup.settings.rel_width, "trials": counts[c].trials,
                     "points": len(batches[c]), "batches": sum(batches[c].values()),
                     "bracket_lo": decision.bracket[0] or np.nan, "bracket_hi": decision.bracket[1] or np.nan,
                     "scale": decision.scale, "falls_back_at": decision.falls_back_at,
                     "note": note_for(decision, setup.scans[c])})
    return pd.DataFrame(rows)


def note_for(decision: Decision, scan: list[int]) -> str:
    if decision.status == "no crossing below n_max":
        return f"P <= 0.5 at every scanned n up to {scan[-1]}: no crossing below n_max (none is invented)"
    if decision.status == "above 0.5 at n_min":
        return f"P > 0.5 already at n = {scan[0]}: the first crossing lies below the search range"
    if not math.isnan(decision.falls_back_at):
        return (f"first upward crossing; P is <= 0.5 again at n = {decision.falls_back_at:g}, so later "
                "crossings exist (ambiguous which one is 'the' transition)")
    return ""


def points_table(setup: LocateSetup, counts: list[Counts]) -> pd.DataFrame:
    """Per combination and n: trials pooled over batches, P and its Wilson 95% interval."""
    rows = []
    for c, cnt in enumerate(counts):
        params = {k: v for k, v in setup.combinations[c].items() if k != "n"}
        for n, k, m in zip(*cnt.pooled()):
            lo, hi = wilson_interval(int(round(k)), int(round(m)))
            rows.append({**params, "n": int(n), "trials": int(round(m)), "p": k / m if m else np.nan,
                         "p_lo": lo, "p_hi": hi})
    return pd.DataFrame(rows)
