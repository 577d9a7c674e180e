"""The U-Net experiment inside the sweep layer: tables, resume without retraining, config errors."""

import textwrap

import pandas as pd
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import torch

from memgen_cli.errors import MemgenError
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.unet import simulation

TINY_SWEEP = """
model: unet
seed: 5
simulations: 2
device: cpu
grid: {n: [4, 12], side: [8], N: [300], train_steps: [3]}
training: {lr: 1.0e-3, batch_size: 8}
sampling: {generated: 4}
evaluation: {eval_original: 40}
"""
TIMINGS = ["train_seconds", "sample_seconds", "eval_seconds"]


@pytest.fixture
def tiny_sweep(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SWEEP))
    return path


def test_tables_and_resume_without_retraining(tiny_sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGEN_THREADS", "1")  # torch threads of the serial executor's simulations
    config = load_sweep_config(tiny_sweep, model="unet")
    out = tmp_path / "out"
    first = run_sweep(config, out, executor="serial")
    assert len(first.trials) == 4 and len(first.summary) == 2
    for column in ("p_delta_positive", "p_delta_positive_exact_lo", "p_delta_positive_kde_hi", "mean_E_OG",
                   "mean_E_TG", "mean_memorized_fraction"):
        assert column in first.summary.columns

    parts = sorted((out / "parts").glob("*.csv"))
    assert len(parts) == 4  # one simulation per part
    parts[1].unlink()  # as if the sweep had been killed during that simulation
    calls = []
    real = simulation.simulate
    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: calls.append(a) or real(*a, **k))
    second = run_sweep(config, out, executor="serial")
    assert len(calls) == 1 and second.tasks_run == 1 and second.tasks_skipped == 3
    pd.testing.assert_frame_equal(first.trials.drop(columns=TIMINGS), second.trials.drop(columns=TIMINGS))


@pytest.mark.parametrize("override,message", [
    ("grid.side=[7]", r"grid\.side: "),
    ("grid.preset=[huge]", r"grid\.preset: "),
    ("training.schedule=quadratic", r"training\.schedule: "),
    ("evaluation.eval_train=10", r"evaluation\.eval_train: "),
    ("grid.epochs=[2]", r"grid\.train_steps: "),
    ("device=tpu", r"device: "),
])
def test_bad_config_is_one_line_error_before_training(tiny_sweep, override, message):
    with pytest.raises(MemgenError, match=message) as info:
        load_sweep_config(tiny_sweep, [override], model="unet")
    assert "\n" not in str(info.value)


def test_image_grid_png_has_generated_over_nearest_training_images(tmp_path):
    import numpy as np

    from memgen_cli.unet.images import image_grid, nearest_training_images, write_png_gray

    rng = np.random.default_rng(0)
    train = rng.uniform(size=(5, 8, 8))
    generated = train[[3, 1]] + 0.01
    np.testing.assert_array_equal(nearest_training_images(generated, train), train[[3, 1]])
    pixels = image_grid(generated, train, scale=2, gap=1)
    assert pixels.shape == (2 * 17 + 1, 2 * 17 + 1) and pixels.dtype == np.uint8
    path = tmp_path / "grid.png"
    write_png_gray(path, pixels)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == pixels.shape[1]


def test_every_shipped_unet_config_validates():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "configs" / "unet").glob("*.yaml")):
        load_sweep_config(path, model="unet")


def test_cuda_without_cuda_is_refused_at_config_time(tiny_sweep):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(MemgenError, match=r"^device: 'cuda' requested"):
        load_sweep_config(tiny_sweep, ["device=cuda"], model="unet")


def test_gmm_cells_are_flat_and_round_trip_to_simulation_params(tiny_sweep):
    from memgen_cli.unet.experiment import UnetExperiment, simulation_params

    config = load_sweep_config(tiny_sweep, ["data.family=gmm", "data.gmm_means=[0.2, 0.8]",
                                            "data.gmm_weights=[1, 3]"], model="unet")
    cell = UnetExperiment().cells(config)[0]
    assert all(not isinstance(v, (list, dict)) for v in cell.values())  # CSV columns, hashable cell ids
    params = simulation_params(cell)
    assert params["gmm_means"] == [0.2, 0.8] and params["gmm_weights"] == [1.0, 3.0]
    assert params["gmm_sigmas"] is None and params["data"] == "gmm"
    simulation.validate_params(params)


def test_image_grids_land_inside_the_results_folder(tiny_sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGEN_THREADS", "1")
    config = load_sweep_config(tiny_sweep, ["output.image_dir=images", "grid.n=[4]"], model="unet")
    out = tmp_path / "with-images"
    run_sweep(config, out, executor="serial")
    pngs = list((out / "images").glob("cell-*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes().startswith(b"\x89PNG")
    assert (out / "config.yaml").read_text().count("image_dir: images") == 1  # the stored config is unchanged
