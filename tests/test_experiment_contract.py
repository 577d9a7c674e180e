"""One contract, every registered experiment: what the runner, analyze and the report rely on, checked the same way
for each model (a new model is added to EXPERIMENTS and gets these tests by adding its tiny config here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from memgen_cli.results_format import IDENTIFIERS, TRIAL_COLUMNS
from memgen_cli.runner.configs import load_sweep_config
from memgen_cli.runner.plan import plan_tasks
from memgen_cli.runner.registry import EXPERIMENTS, experiment_class, get_experiment
from memgen_cli.runner.sweep import run_sweep
from tests.tiny import CLOSEDFORM_SWEEP, LINEAR_SWEEP, unet_sweep


def _evaluate_config(folder) -> str:
    rng = np.random.default_rng(0)
    train, held = rng.random((30, 4, 4)), rng.random((20, 4, 4))
    samples = np.concatenate([train[:5] + 1e-3, rng.random((5, 4, 4))])
    for name, values in (("train", train), ("heldout", held), ("samples", samples)):
        np.save(folder / f"{name}.npy", values)
    return yaml.safe_dump({"model": "evaluate", "heldout": str(folder / "heldout.npy"),
                           "pairs": [{"samples": str(folder / "samples.npy"), "train": str(folder / "train.npy"),
                                      "n": n} for n in (10, 30)], "evaluation": {"bootstrap": 50}})


TINY = {"linear": lambda folder: LINEAR_SWEEP.replace("trials: 30", "trials: 4"),
        "closedform": lambda folder: CLOSEDFORM_SWEEP.replace("simulations: 3", "simulations: 2"),
        "unet": lambda folder: unet_sweep(simulations=1, train_steps=2),
        "evaluate": _evaluate_config}
MODELS = [pytest.param(model, marks=pytest.mark.slow) if model == "unet" else model for model in EXPERIMENTS]


def test_every_registered_experiment_has_a_tiny_config_here():
    assert set(TINY) == set(EXPERIMENTS)


@pytest.fixture
def swept(request, tmp_path):
    model = request.param
    path = tmp_path / "config.yaml"
    path.write_text(TINY[model](tmp_path))
    config = load_sweep_config(path, model=model)
    out = tmp_path / "out"
    return model, config, out, run_sweep(config, out, executor="serial")


@pytest.mark.parametrize("swept", MODELS, indirect=True)
def test_the_contract(swept):
    model, config, out, result = swept
    experiment = get_experiment(model)
    assert experiment_class(model).config_class is type(config)
    # cells: flat dicts of scalars, one id each
    cells = experiment.cells(config)
    assert cells and all(v is None or isinstance(v, (int, float, str)) for cell in cells for v in cell.values())
    tasks = plan_tasks(experiment, config)
    assert len({t.cell_id for t in tasks}) == len(cells)
    # the schema: identifiers, the cell's parameters, the trial columns, then exactly the experiment's columns
    trials = pd.read_csv(out / "trials.csv")
    columns = list(trials.columns)
    assert columns[:3] == list(IDENTIFIERS)
    start = columns.index(TRIAL_COLUMNS[0])
    assert columns[start:start + 2] == list(TRIAL_COLUMNS)
    assert tuple(columns[start + 2:]) == experiment.columns(config)
    assert len(trials) == len(cells) * experiment.trial_count(config) and not result.failed
    # every summarised metric is a column; the summary has one row per cell
    for metric in (*experiment.binary_metrics, *experiment.mean_metrics):
        assert metric in experiment.columns(config) or metric in experiment.added_columns or \
            metric.startswith(("reproduced", "paired", "generalizer_", "memorizer_")), metric
    assert len(pd.read_csv(out / "summary.csv")) == len(cells)
    # resume: nothing runs again, and the tables are byte for byte the same
    before = (out / "trials.csv").read_bytes()
    again = run_sweep(config, out, executor="serial")
    assert again.tasks_run == 0 and (out / "trials.csv").read_bytes() == before
    # pure: a task computed again gives the same metrics (timings aside)
    task = tasks[0]
    first, second = (experiment.run_task(config, task.cell, task.trials) for _ in range(2))
    timing = [c for c in experiment.columns(config) if "seconds" in c or c == "device"]
    for a, b in zip(first, second):
        assert {k: v for k, v in a.items() if k not in timing and k != "checkpoints"} == \
            pytest.approx({k: v for k, v in b.items() if k not in timing and k != "checkpoints"}, nan_ok=True)
    # the references: every image model and evaluate measure both; the linear model its generalizer
    assert any(c.startswith("generalizer_") for c in experiment.columns(config))
