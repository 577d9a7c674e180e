"""Metrics along training (evaluation.every): curves.csv, its durable parts, resume, and what stays unchanged."""

import textwrap

import pandas as pd
import pytest
import yaml

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)

from tiny import unet_cell
from memgen_cli.errors import MemgenError
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.unet import simulation
from memgen_cli.unet.experiment import UnetExperiment
from memgen_cli.unet.simulation import simulate

CURVES_SWEEP = """
model: unet
seed: 3
simulations: 2
device: cpu
grid: {n: [4, 12], side: [8], N: [300], train_steps: [5]}
training: {lr: 1.0e-3, batch_size: 8}
sampling: {generated: 4}
evaluation: {eval_original: 40, every: 2}
"""
TINY = unet_cell(train_steps=5)
TIMINGS = ["train_seconds", "sample_seconds", "eval_seconds", "reference_seconds"]


@pytest.fixture
def curves_sweep(tmp_path):
    path = tmp_path / "curves.yaml"
    path.write_text(textwrap.dedent(CURVES_SWEEP))
    return path


def test_checkpoints_leave_the_final_row_unchanged_and_end_with_it():
    plain = simulate(TINY, seed=4, device="cpu", threads=1)
    followed = simulate(TINY, seed=4, device="cpu", threads=1, every=2)
    assert plain.curve is None
    assert {k: v for k, v in plain.row.items() if k not in TIMINGS} == \
        {k: v for k, v in followed.row.items() if k not in TIMINGS}
    assert [point["step"] for point in followed.curve] == [2, 4, 5]
    last = followed.curve[-1]
    assert all(last[k] == followed.row[k] for k in ("E_OG", "E_TG_exact", "memorized_fraction", "delta_positive"))
    # Fresh samples at each checkpoint: the metrics move along training.
    assert len({point["E_OG_exact"] for point in followed.curve}) == 3


def test_every_stays_out_of_cells_and_config_yaml_when_unset(curves_sweep):
    with_every = load_sweep_config(curves_sweep, model="unet")
    without = load_sweep_config(curves_sweep, ["evaluation.every=null"], model="unet")
    experiment = UnetExperiment()
    assert experiment.cells(with_every) == experiment.cells(without)  # same cell ids, so the same seeds
    assert "every" not in without.model_dump()["evaluation"]
    assert with_every.model_dump()["evaluation"]["every"] == 2
    with pytest.raises(MemgenError, match=r"^cell 0: evaluation\.every: 9 is more than the 5 optimizer steps"):
        load_sweep_config(curves_sweep, ["evaluation.every=9"], model="unet")


@pytest.mark.slow  # U-Net sweeps, interrupted and resumed
def test_curves_csv_parts_and_resume_keep_finished_simulations(curves_sweep, tmp_path, monkeypatch):
    config = load_sweep_config(curves_sweep, model="unet")
    out = tmp_path / "out"
    first = run_sweep(config, out, executor="serial")
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 4 * 3  # 4 simulations x checkpoints at steps 2, 4 and 5
    lead = list(first.trials.columns[:first.trials.columns.get_loc("seed") + 1])
    assert list(curves.columns[:len(lead) + 1]) == lead + ["step"]
    assert curves.groupby(["cell", "trial"])["step"].apply(list).tolist() == [[2, 4, 5]] * 4
    last = curves[curves["step"] == 5].reset_index(drop=True)
    pd.testing.assert_series_equal(last["E_OG"], first.trials["E_OG"], check_names=False)
    parts = sorted((out / "parts").glob("*.curves.csv"))
    assert len(parts) == 4 and len(list((out / "parts").glob("*.curves.checksum.json"))) == 4

    calls = []
    real = simulation.simulate_group
    monkeypatch.setattr(simulation, "simulate_group", lambda *a, **k: calls.extend(a[1]) or real(*a, **k))
    parts[0].unlink()  # killed between a simulation's curve part and its trials part... or the curve lost
    damaged = parts[1].read_bytes().replace(b",", b";", 1)
    parts[1].write_bytes(damaged)  # a damaged curve part: named, not used, its simulation runs again
    second = run_sweep(config, out, executor="serial")
    assert len(calls) == 2 and second.tasks_run == 2 and second.tasks_skipped == 2
    assert any("curves.csv: missing" in note for note in second.notes)
    assert any("damaged (its bytes do not match its checksum)" in note for note in second.notes)
    pd.testing.assert_frame_equal(pd.read_csv(out / "curves.csv"), curves)
    pd.testing.assert_frame_equal(first.trials.drop(columns=TIMINGS), second.trials.drop(columns=TIMINGS))

    calls.clear()
    third = run_sweep(config, out, executor="serial")
    assert calls == [] and third.tasks_run == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "curves.csv"), curves)


@pytest.mark.slow  # starts processes
def test_curves_do_not_depend_on_the_worker_count(curves_sweep, tmp_path):
    config = load_sweep_config(curves_sweep, ["grid.n=[4]"], model="unet")
    serial = run_sweep(config, tmp_path / "serial", executor="serial")
    local = run_sweep(config, tmp_path / "local", executor="local", workers=2)
    assert (tmp_path / "serial" / "curves.csv").read_bytes() == (tmp_path / "local" / "curves.csv").read_bytes()
    assert serial.curves.equals(local.curves)
    stored = yaml.safe_load((tmp_path / "serial" / "config.yaml").read_text())
    assert stored["evaluation"]["every"] == 2
