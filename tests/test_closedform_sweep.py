"""The closed-form model as the CLI's third model: copies at smoothing 0 through the whole experiment, the same
numbers whatever the executor, worker count or interruption, one-line errors for its fields, no torch, and
locate, analyze and plot on its folders."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_one_line_error, invoke  # tests/ is on sys.path
from memgen_cli.closedform import simulation
from memgen_cli.closedform.experiment import ClosedFormExperiment
from memgen_cli.closedform.params import CellParams
from memgen_cli.imaging.metrics import nearest_neighbour_ratios
from memgen_cli.runner.registry import EXPERIMENTS, get_experiment
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.seeding import cell_id, trial_seed
from tiny import CLOSEDFORM_SWEEP, WITHOUT_TORCH

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = simulation.TIMINGS + ("reference_seconds",)  # the references (issue 22) are timed too
TINY_SWEEP = CLOSEDFORM_SWEEP


@pytest.fixture
def tiny_sweep(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SWEEP))
    return path


def without_timings(path: Path) -> pd.DataFrame:
    """A CSV's exact text, field by field, without the wall-time columns (and their summaries)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return table.drop(columns=[c for c in table.columns if any(c.endswith(t) for t in TIMINGS)])


def test_it_is_one_registry_line_and_its_cells_are_flat():
    assert EXPERIMENTS["closedform"] == ("memgen_cli.closedform.experiment:ClosedFormExperiment", ())
    config = load_sweep_config(ROOT / "configs" / "closedform" / "paper-fig4.yaml", model="closedform")
    cells = ClosedFormExperiment().cells(config)
    assert len(cells) == 21 and [c["n"] for c in cells[:7]] == [10, 30, 100, 300, 1000, 3000, 10000]
    assert [c["smoothing"] for c in cells[::7]] == [0.0, 0.15, 0.3]
    assert all(CellParams.from_cell(cell).to_cell() == cell for cell in cells)  # same keys, order and values
    assert list(cells[0].items()) == [
        ("n", 10), ("side", 16), ("N", 100000), ("steps", 10), ("smoothing", 0.0), ("data", "gaussian"),
        ("mu", 0.5), ("sigma", 0.1), ("sampler", "ddpm"), ("sample_steps", None), ("generated", 10),
        ("schedule", "logsnr_linear"), ("draws", 2), ("eval_train", 10), ("eval_original", 100),
        ("grid_points", 16), ("kde_max_points", 2000), ("bootstrap", 1000)]
    assert cell_id("closedform", cells[0]) == "a36422a8f8a5"  # cell ids and seeds must never move


@pytest.mark.parametrize("sampler", ["ddim", "euler"])
def test_exact_model_samples_are_training_images_through_the_whole_experiment(tiny_sweep, tmp_path, sampler):
    """Smoothing 0, few training images: every sample is a training image up to rounding (NN ratio ~ 0), in
    trials.csv and in the images themselves; under DDIM and under the probability-flow ODE (euler) alike."""
    config = load_sweep_config(tiny_sweep, ["grid.n=[3, 8]", "grid.smoothing=[0]", f"sampling.sampler={sampler}"],
                               model="closedform")
    trials = run_sweep(config, executor="serial").trials
    assert len(trials) == 6 and (trials["memorized_fraction"] == 1.0).all()
    assert (trials["nn_ratio_max"] < 1e-6).all() and (trials["memorized_hi"] == 1.0).all()
    assert (trials["delta_positive_exact"] == 0).all()  # copies of 3 or 8 images, far from the 40 originals
    cells = {cell["n"]: cell for cell in ClosedFormExperiment().cells(config)}
    for _, row in trials.iterrows():  # the images: each within rounding of its nearest training image
        result = simulation.simulate(cells[row["n"]], int(row["seed"]))
        assert result.row["E_OG_exact"] == row["E_OG_exact"]  # the row is this simulation's
        gen, train = result.generated.reshape(6, -1), result.train.reshape(len(result.train), -1)
        nearest = np.abs(gen[:, None, :] - train[None]).max(axis=2).min(axis=1)
        assert nearest.max() < 1e-12
    smoothed = run_sweep(load_sweep_config(tiny_sweep, ["grid.n=[40]", "grid.smoothing=[0.3]",
                                                        f"sampling.sampler={sampler}"],
                                           model="closedform"), executor="serial").trials
    assert smoothed["memorized_fraction"].mean() < 0.5 and (smoothed["nn_ratio_max"] > 0.5).all()  # barycenters


def test_a_simulation_is_its_seed_and_the_seed_is_the_runners(tiny_sweep):
    config = load_sweep_config(tiny_sweep, ["grid.n=[4]", "grid.smoothing=[0.3]", "simulations=2"],
                               model="closedform")
    trials = run_sweep(config, executor="serial").trials
    cell = ClosedFormExperiment().cells(config)[0]
    assert trials["seed"].tolist() == [trial_seed(5, "closedform", cell, t) for t in range(2)]
    again = simulation.simulate(cell, int(trials["seed"][1]))
    for column in ("E_TG", "E_OG_exact", "log_E_OG_kde", "nn_ratio_mean", "memorized_fraction"):
        assert again.row[column] == trials[column][1]
    other = simulation.simulate(cell, int(trials["seed"][0]))
    assert other.row["E_OG_exact"] != again.row["E_OG_exact"]


def test_tables_and_resume_without_resampling(tiny_sweep, tmp_path, monkeypatch):
    config = load_sweep_config(tiny_sweep, model="closedform")
    out = tmp_path / "out"
    first = run_sweep(config, out, executor="serial")
    assert len(first.trials) == 12 and len(first.summary) == 4
    for column in ("p_delta_positive", "p_delta_positive_exact_lo", "p_delta_positive_kde_hi", "mean_E_OG",
                   "mean_memorized_fraction", "se_nn_ratio_mean"):
        assert column in first.summary.columns
    parts = sorted((out / "parts").glob("*.csv"))
    assert len(parts) == 12  # one simulation per part
    parts[4].unlink()  # as if the sweep had been killed during that simulation
    calls = []
    real = simulation.simulate
    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    second = run_sweep(config, out, executor="serial")
    assert len(calls) == 1 and second.tasks_run == 1 and second.tasks_skipped == 11
    pd.testing.assert_frame_equal(first.trials.drop(columns=list(TIMINGS)),
                                  second.trials.drop(columns=list(TIMINGS)))


@pytest.mark.slow  # starts worker processes
def test_numbers_do_not_depend_on_the_executor_or_the_worker_count(tiny_sweep, tmp_path):
    config = load_sweep_config(tiny_sweep, model="closedform")
    for name, (executor, workers) in {"serial": ("serial", None), "two": ("local", 2)}.items():
        result = run_sweep(config, tmp_path / name, executor=executor, workers=workers)
        assert not result.failed and len(result.trials) == 12
    for table in ("trials.csv", "summary.csv"):
        serial = without_timings(tmp_path / "serial" / table)
        assert len(serial.columns) > 30  # every metric column is compared, as text
        pd.testing.assert_frame_equal(without_timings(tmp_path / "two" / table), serial)


@pytest.mark.slow  # starts the CLI in processes and kills one
def test_resume_after_kill_minus_9_gives_the_clean_runs_numbers(tmp_path):
    config = tmp_path / "resume.yaml"
    config.write_text(textwrap.dedent(TINY_SWEEP).replace("simulations: 3", "simulations: 25")
                      .replace("N: [300]", "N: [20000]"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "memgen_cli", "sweep", "closedform", str(config), "--quiet", "--workers", "2"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((killed / "parts").glob("*.csv"))) < 5:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    finally:
        proc.wait(timeout=30)
    finished_before = len(list((killed / "parts").glob("*.csv")))
    assert 5 <= finished_before < 100, "the kill should land mid-sweep"
    assert not (killed / "trials.csv").exists()
    rerun = subprocess.run(cmd + ["--out", str(killed)], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    clean = subprocess.run(cmd + ["--out", str(tmp_path / "clean"), "--workers", "1"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr
    for table in ("trials.csv", "summary.csv"):
        pd.testing.assert_frame_equal(without_timings(killed / table), without_timings(tmp_path / "clean" / table))
    assert len(pd.read_csv(killed / "trials.csv")) == 100


@pytest.mark.parametrize("overrides,fragment", [
    (["grid.smoothing=[-0.1]"], "grid.smoothing[0]: must be >= 0 (got -0.1)"),
    (["grid.smoothing=[0.1, 0.1]"], "grid.smoothing: 0.1 appears 2 times; each value once"),
    (["grid.smoothing=[.nan]"], "grid.smoothing[0]: must be >= 0 (got nan)"),
    (["grid.smoothing=[]"], "grid.smoothing: must not be empty"),
    (["grid.smoothing=[wide]"], "grid.smoothing[0]: must be number (got 'wide')"),
    (["sampling.draws=0"], "sampling.draws: must be >= 1 (got 0)"),
    (["sampling.draws=2.5"], "sampling.draws: must be integer (got 2.5)"),
    (["sampling.schedule=quadratic"], "sampling.schedule: must be one of 'logsnr_linear', 'cosine' or 'published'"),
    (["sampling.sampler=rk4"], "sampling.sampler: must be one of 'ddpm', 'ddim' or 'euler'"),
    (["sampling.sampler=euler", "sampling.sample_steps=5"],
     "cell 0: sampling.sample_steps: the euler sampler takes its steps from grid.steps"),
    (["grid.steps=[17]", "sampling.sample_steps=7"],
     "cell 0: sampling.sample_steps: diffusers' trailing spacing gives 8 time steps, ending at -1"),
    (["sampling.sample_steps=11"], "cell 0: sampling.sample_steps: must be between 1 and steps = 10 (got 11)"),
    (["grid.steps=[1]"], "grid.steps[0]: must be >= 2 (got 1)"),
    (["evaluation.every=10"], "evaluation.every: the closed-form model has no training to evaluate along"),
    (["evaluation.eval_train=10"], "cell 0: evaluation.eval_train: evaluation subset of 10 is larger than the "
                                   "training set (n = 4)"),
    (["data.gmm_means=[0.1, 0.9]"], "data.gmm_means: family 'gaussian' does not use it"),
    (["data.family=digits", "grid.side=[16]", "grid.n=[1797]"], "cell 0: grid.n: only 1797 digits are available"),
    (["threads=0"], "threads: must be >= 1 (got 0)"),
    (["trials=3"], "trials: unknown field"),
])
def test_bad_values_are_one_line_naming_the_field(tiny_sweep, overrides, fragment):
    sets = [arg for item in overrides for arg in ("--set", item)]
    assert_one_line_error(invoke("sweep", "closedform", tiny_sweep, "--dry-run", *sets), fragment)


@pytest.mark.slow  # a process without torch
def test_it_runs_through_the_cli_without_torch(tiny_sweep, tmp_path):
    command = WITHOUT_TORCH + textwrap.dedent(f"""
        from memgen_cli.cli import app
        try:
            app(["sweep", "closedform", {str(tiny_sweep)!r}, "--out", {str(tmp_path / "out")!r}, "--quiet",
                 "--executor", "serial", "--set", "grid.n=[4]"], prog_name="memgen")
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("LOADED", sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "diffusers"}}))
    """)
    result = subprocess.run([sys.executable, "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == 6


@pytest.mark.slow  # a sweep, analyze and plot end to end
def test_analyze_and_plot_a_closedform_folder(tiny_sweep, tmp_path):
    out = tmp_path / "out"
    run_sweep(load_sweep_config(tiny_sweep, ["grid.n=[4, 12, 40]"], model="closedform"), out, executor="serial")
    result = invoke("analyze", out, "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    assert "n_mem" in result.output
    table = pd.read_csv(out / "memorization.csv")
    assert sorted(table["smoothing"]) == [0.0, 0.3]  # one group per smoothing
    assert table.set_index("smoothing").loc[0.0, "memorized_at_n_max"] == 1.0  # the exact optimum copies
    result = invoke("plot", out)
    assert result.exit_code == 0, result.output
    for name in ("memorized_fraction", "memorization_vs_p", "p_delta_positive"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000, name


def test_locate_searches_the_closedform_model(tiny_sweep, tmp_path):
    path = tmp_path / "locate.yaml"
    path.write_text(textwrap.dedent(TINY_SWEEP).replace("smoothing: [0, 0.3]", "smoothing: [0.3]")
                    .replace("n: [4, 40]", "n: [3, 60]")
                    + "locate: {batch: 3, scan: 3, max_trials: 9, target: memorized_fraction, direction: down}\n")
    out = tmp_path / "located"
    result = invoke("locate", "closedform", path, "--out", out, "--executor", "serial", "-q")
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(out / "trials.csv")
    nstar = pd.read_csv(out / "nstar.csv")
    assert sorted(trials["n"].unique())[0] == 3 and trials["n"].max() == 60
    assert nstar.loc[0, "trials"] == len(trials) and nstar.loc[0, "smoothing"] == 0.3
    assert trials["model"].eq("closedform").all() and trials["memorized_fraction"].between(0, 1).all()


def test_digits_grids_land_inside_the_results_folder(tiny_sweep, tmp_path):
    from matplotlib.image import imread

    from memgen_cli.imaging.grids import LABEL_WIDTH

    config = load_sweep_config(tiny_sweep, ["data.family=digits", "grid.n=[5]", "grid.smoothing=[0]",
                                            "simulations=1", "output.image_dir=images"],
                               model="closedform")
    out = tmp_path / "digits"
    trials = run_sweep(config, out, executor="serial").trials
    cell = get_experiment("closedform").cells(config)[0]
    png, = (out / "images").glob("cell-*.png")
    assert png.name == f"cell-{cell_id('closedform', cell)}.png"
    assert trials["pixel_scale"][0] == "scikit-learn digits 0..16 / 16" and trials["n_original"][0] == 1792
    pixels = np.round(imread(png)[..., 0] * 255)[:, LABEL_WIDTH:]  # the rows' names on the left, then the tiles
    result = simulation.simulate(cell, int(trials["seed"][0]))
    assert nearest_neighbour_ratios(result.generated.reshape(6, -1), result.train.reshape(5, -1)).max() < 1e-6
    top, bottom = pixels[1:65], pixels[66:130]  # generated over nearest training digit: the same (copies)
    assert pixels.shape[0] == 2 * 64 + 3 and np.abs(top - bottom).max() <= 1


@pytest.mark.parametrize("image_dir", ["..", "../elsewhere", "images/../../x"])
def test_a_relative_image_dir_stays_inside_the_results_folder(tmp_path, image_dir):
    """Issue 34: output.image_dir of '..' wrote outside the results folder."""
    from memgen_cli.errors import MemgenError
    from memgen_cli.imaging.grids import resolve_image_dir

    config = {"output": {"image_dir": image_dir}}
    with pytest.raises(MemgenError, match="output.image_dir: .* leads out of the results folder"):
        resolve_image_dir(config, tmp_path / "out")
    inside = resolve_image_dir({"output": {"image_dir": "images/grids"}}, tmp_path / "out")
    assert inside["output"]["image_dir"] == str((tmp_path / "out" / "images" / "grids").resolve())
