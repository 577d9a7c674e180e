"""The U-Net experiment inside the sweep layer: tables, resume without retraining, config errors."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import torch

from tiny import WITHOUT_TORCH, unet_sweep
from memgen_cli.errors import MemgenError
from memgen_cli.seeding import cell_id
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.unet import simulation
from memgen_cli.unet.experiment import UnetExperiment
from memgen_cli.imaging.grids import LABEL_WIDTH, image_grid, nearest_training_images, write_png_gray
from memgen_cli.unet.params import SimulationParams

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "configs" / "unet").glob("*.yaml")) + sorted((ROOT / "configs" / "paper").glob("fig4-unet*"))

TINY_SWEEP = unet_sweep()
TIMINGS = ["train_seconds", "sample_seconds", "eval_seconds", "reference_seconds"]


@pytest.fixture
def tiny_sweep(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SWEEP))
    return path


def test_tables_and_resume_without_retraining(tiny_sweep, tmp_path, monkeypatch):
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
    real = simulation.simulate_group
    monkeypatch.setattr(simulation, "simulate_group", lambda *a, **k: calls.extend(a[1]) or real(*a, **k))
    second = run_sweep(config, out, executor="serial")
    assert len(calls) == 1 and second.tasks_run == 1 and second.tasks_skipped == 3
    pd.testing.assert_frame_equal(first.trials.drop(columns=TIMINGS), second.trials.drop(columns=TIMINGS))
    assert {"generalizer_delta_positive", "memorizer_memorized_fraction"} <= set(second.trials.columns)


@pytest.mark.parametrize("overrides,message", [
    (["grid.side=[7]"], r"^cell 0: grid\.side: preset 'tiny' downsamples by 2, so the image side must be a "
                        r"multiple of 2 \(got 7\)$"),
    (["grid.preset=[huge]"], r": grid\.preset\[0\]: must be one of 'tiny', 'small' or 'paper' \(got 'huge'\)$"),
    (["training.schedule=quadratic"], r": training\.schedule: must be one of 'logsnr_linear', 'cosine' or "
                                      r"'published' \(got 'quadratic'\)$"),
    (["sampling.sampler=euler"], r": sampling\.sampler: must be one of 'ddpm' or 'ddim'"),
    (["evaluation.eval_train=10"], r"^cell 0: evaluation\.eval_train: evaluation subset of 10 is larger than the "
                                   r"training set \(n = 4\)$"),
    (["evaluation.eval_original=301"], r"^cell 0: evaluation\.eval_original: .*\(300 images\)$"),
    (["sampling.sample_steps=12"], r"^cell 0: sampling\.sample_steps: must be between 1 and steps = 10 \(got 12\)$"),
    # a pair where diffusers' trailing spacing ends on time step -1 (imaging/schedules.py)
    (["grid.steps=[17]", "sampling.sample_steps=7"], r"^cell 0: sampling\.sample_steps: diffusers' trailing spacing "
                                                    r"gives 8 time steps, ending at -1, for steps = 17"),
    (["grid.epochs=[2]"], r"^cell 0: grid\.epochs: give exactly one training budget, grid\.epochs or "
                          r"grid\.train_steps$"),
    (["grid.train_steps=null"], r"^cell 0: grid\.epochs: give exactly one training budget"),
    (["data.family=digits", "grid.n=[1797]"], r"^cell 0: grid\.n: only 1797 digits are available"),
    (["data.family=gmm", "data.gmm_sigmas=[0.1]"], r"^cell 0: data\.gmm_sigmas: give one per component"),
    (["data.gmm_weights=[]"], r": data\.gmm_weights: must not be empty$"),
    (["device=tpu"], r": device: must be one of 'auto', 'cpu' or 'cuda' \(got 'tpu'\)$"),
])
def test_bad_config_is_one_line_error_before_training(tiny_sweep, overrides, message):
    with pytest.raises(MemgenError, match=message) as info:
        load_sweep_config(tiny_sweep, overrides, model="unet")
    assert "\n" not in str(info.value)


@pytest.mark.slow  # starts processes
def test_missing_extra_is_one_line_install_hint_through_the_cli(tmp_path):
    dry_run = WITHOUT_TORCH + textwrap.dedent("""
        from memgen_cli.cli import app
        app(["sweep", "unet", "configs/unet/quick.yaml", "--dry-run"], prog_name="memgen")
    """)
    result = subprocess.run([sys.executable, "-c", dry_run], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # the plan needs no torch; it says what running it needs
    assert "torch, diffusers missing): pip install 'memgen[unet]'" in result.stdout.splitlines()[-1]
    command = WITHOUT_TORCH + textwrap.dedent(f"""
        from memgen_cli.cli import app
        app(["sweep", "unet", "configs/unet/quick.yaml", "--out", {str(tmp_path / "out")!r}], prog_name="memgen")
    """)
    result = subprocess.run([sys.executable, "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in result.stderr and result.stdout == ""
    line, = result.stderr.splitlines()
    assert line.startswith("memgen: error: model unet: ") and "pip install 'memgen[unet]'" in line
    assert "No module named 'torch'" in line


@pytest.mark.slow  # starts processes
def test_config_and_cells_are_checked_without_torch():
    command = WITHOUT_TORCH + textwrap.dedent("""
        import yaml
        from memgen_cli.errors import MemgenError
        from memgen_cli.unet.experiment import UnetExperiment
        from memgen_cli.unet.params import SimulationParams, UnetConfig

        data = yaml.safe_load(open("configs/unet/quick.yaml"))
        cells = UnetExperiment().cells(UnetConfig.model_validate(data))
        assert all(SimulationParams.from_cell(cell).to_cell() == cell for cell in cells)
        try:
            SimulationParams.from_cell({**cells[0], "schedule": "quadratic"})
        except MemgenError as exc:
            print(exc)
        assert not any(name.split(".")[0] in ("torch", "diffusers") for name in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cell: training.schedule: must be one of 'logsnr_linear'")


def test_image_grid_has_generated_over_nearest_training_images_in_gray_levels(tmp_path):
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    train = rng.uniform(size=(5, 8, 8))
    generated = train[[3, 1]] + 0.01
    generated[0, 0, 0], generated[1, 7, 7] = 1.5, -0.5  # generated images are not clipped; their grid is
    np.testing.assert_array_equal(nearest_training_images(generated, train), train[[3, 1]])
    pixels = image_grid(generated, train, scale=2, gap=1)
    assert pixels.shape == (2 * 17 + 1, 2 * 17 + 1) and pixels.dtype == np.uint8

    def tile(row, column):  # a 16 x 16 tile between 1-pixel gaps
        return pixels[1 + 17 * row:17 * (row + 1), 1 + 17 * column:17 * (column + 1)]

    def gray(images):  # [0, 1] -> 0..255, upscaled 2x by repetition
        return np.kron(np.round(np.clip(images, 0, 1) * 255), np.ones((2, 2))).astype(np.uint8)

    for column in range(2):
        np.testing.assert_array_equal(tile(0, column), gray(generated[column]))  # top: the generated image
        np.testing.assert_array_equal(tile(1, column), gray(train[[3, 1][column]]))  # bottom: its nearest
    assert tile(0, 0)[0, 0] == 255 and tile(0, 1)[-1, -1] == 0
    gaps = np.ones(pixels.shape, bool)
    gaps[1:17, 1:17] = gaps[1:17, 18:34] = gaps[18:34, 1:17] = gaps[18:34, 18:34] = False
    assert (pixels[gaps] == 255).all()  # white gaps

    path = tmp_path / "grid.png"
    write_png_gray(path, pixels)
    png = np.round(imread(path)[..., 0] * 255)
    assert png.shape == pixels.shape  # matplotlib's gray colour map may move a level by one
    assert np.abs(png - pixels).max() <= 1


def test_shipped_configs_cells_round_trip_through_their_params():
    """Cells are hashed into cell ids and written as columns: their layout must never change."""
    counts = {}
    for path in SHIPPED:
        config = load_sweep_config(path, model="unet")
        cells = get_experiment("unet").cells(config)
        for cell in cells:
            again = SimulationParams.from_cell(cell).to_cell()
            assert list(again.items()) == list(cell.items()), path.name  # same keys, order and values
        assert len({cell_id("unet", cell) for cell in cells}) == len(cells)
        counts[path.relative_to(ROOT).as_posix()] = len(cells)
    assert counts == {"configs/unet/digits-memorization.yaml": 4, "configs/unet/quick.yaml": 5,
                      "configs/unet/digits-calibrated.yaml": 4, "configs/unet/gaussian-calibrated.yaml": 5,
                      "configs/unet/training-time.yaml": 5,
                      "configs/paper/fig4-unet-quick.yaml": 3, "configs/paper/fig4-unet.yaml": 10}
    first = UnetExperiment().cells(load_sweep_config(ROOT / "configs" / "unet" / "quick.yaml"))[0]
    assert list(first.items()) == [
        ("n", 2), ("side", 8), ("N", 2000), ("preset", "tiny"), ("steps", 10), ("epochs", None),
        ("train_steps", 400), ("data", "gaussian"), ("mu", 0.5), ("sigma", 0.1), ("schedule", "logsnr_linear"),
        ("lr", 0.002), ("batch_size", 32), ("sampler", "ddpm"), ("sample_steps", None), ("generated", 10),
        ("eval_train", None), ("eval_original", 100), ("grid_points", 16), ("kde_max_points", 2000),
        ("bootstrap", 1000)]
    assert cell_id("unet", first) == "56c4ebe777f8"  # the id of every existing results folder's first cell


def test_cuda_without_cuda_is_refused_at_config_time(tiny_sweep):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(MemgenError, match=r"^device: 'cuda' requested"):
        load_sweep_config(tiny_sweep, ["device=cuda"], model="unet")


def test_gmm_cells_are_flat_and_round_trip_to_simulation_params(tiny_sweep):
    config = load_sweep_config(tiny_sweep, ["data.family=gmm", "data.gmm_means=[0.2, 0.8]",
                                            "data.gmm_weights=[1, 3]"], model="unet")
    cell = UnetExperiment().cells(config)[0]
    assert all(not isinstance(v, (list, tuple, dict)) for v in cell.values())  # CSV columns, hashable cell ids
    assert list(cell)[7:12] == ["data", "sigma", "gmm_means", "gmm_sigmas", "gmm_weights"]  # no mu: gmm ignores it
    assert (cell["gmm_means"], cell["gmm_sigmas"], cell["gmm_weights"]) == ("0.2,0.8", None, "1.0,3.0")
    params = SimulationParams.from_cell(cell)
    assert params.data.gmm_means == (0.2, 0.8) and params.data.gmm_weights == (1.0, 3.0)
    assert params.data.gmm_sigmas is None and params.data.family == "gmm"
    assert params.to_cell() == cell
    assert SimulationParams.from_cell({**cell, "gmm_sigmas": float("nan")}) == params  # an empty CSV cell


def test_image_grids_land_inside_the_results_folder(tiny_sweep, tmp_path):
    from matplotlib.image import imread

    config = load_sweep_config(tiny_sweep, ["output.image_dir=images", "grid.n=[4]"], model="unet")
    out = tmp_path / "with-images"
    trials = run_sweep(config, out, executor="serial").trials
    pngs = list((out / "images").glob("cell-*.png"))
    cell = UnetExperiment().cells(config)[0]
    assert [p.name for p in pngs] == [f"cell-{cell_id('unet', cell)}.png"]
    assert (out / "config.yaml").read_text().count("image_dir: images") == 1  # the stored config is unchanged
    # The grid is trial 0's: its generated images over their nearest training images.
    first = trials[trials["trial"] == 0].iloc[0]
    result = simulation.simulate(cell, int(first["seed"]), device="cpu", threads=1)
    assert first["E_OG_exact"] == result.row["E_OG_exact"]
    png = np.round(imread(pngs[0])[..., 0] * 255)[:, LABEL_WIDTH:]  # the rows' names on the left, then the tiles
    expected = image_grid(result.generated, result.train)
    assert png.shape == expected.shape and np.abs(png - expected).max() <= 1


def _csv_without_timings(path: Path) -> pd.DataFrame:
    """A CSV's exact text, field by field, without the wall-time columns (and their summaries)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return table.drop(columns=[c for c in table.columns if any(c.endswith(t) for t in TIMINGS)])


@pytest.mark.slow  # 15-40 s: each local run starts worker processes that import torch and diffusers
def test_numbers_do_not_depend_on_the_executor_or_the_worker_count(tiny_sweep, tmp_path):
    """torch and BLAS use the config's threads (default 1) in every simulation, not a worker's share of cores."""
    config = load_sweep_config(tiny_sweep, model="unet")
    runs = {"serial": ("serial", None), "one": ("local", 1), "two": ("local", 2)}
    for name, (executor, workers) in runs.items():
        result = run_sweep(config, tmp_path / name, executor=executor, workers=workers)
        assert not result.failed and len(result.trials) == 4
    for table in ("trials.csv", "summary.csv"):
        serial = _csv_without_timings(tmp_path / "serial" / table)
        assert len(serial.columns) > 20  # every metric column is compared, as text
        assert any(c.startswith(("generalizer_", "p_memorizer_")) for c in serial.columns)  # the references too
        for name in ("one", "two"):
            pd.testing.assert_frame_equal(_csv_without_timings(tmp_path / name / table), serial)


def test_threads_are_kept_out_of_config_yaml_unless_set(tiny_sweep):
    from memgen_cli.config import config_to_dict

    assert "threads" not in config_to_dict(load_sweep_config(tiny_sweep, model="unet"))  # old folders resume
    assert config_to_dict(load_sweep_config(tiny_sweep, ["threads=2"], model="unet"))["threads"] == 2
    with pytest.raises(MemgenError, match=r": threads: must be >= 1 \(got 0\)$"):
        load_sweep_config(tiny_sweep, ["threads=0"], model="unet")


def test_simulate_runs_with_exactly_its_threads_and_restores_them(monkeypatch):
    seen = []
    real = simulation._simulate_group
    monkeypatch.setattr(simulation, "_simulate_group", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    before = torch.get_num_threads()
    cell = {"n": 4, "side": 8, "N": 50, "preset": "tiny", "steps": 10, "train_steps": 1, "batch_size": 4,
            "generated": 2}
    simulation.simulate(cell, seed=1, device="cpu", threads=before + 1)
    assert seen == [before + 1] and torch.get_num_threads() == before


def _cli(*args):
    from typer.testing import CliRunner

    from memgen_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    line, = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("memgen: error: ") and fragment in line, line


@pytest.mark.parametrize("overrides,fragment", [
    (["data.gmm_means=[0.1, 0.9]"], "data.gmm_means: family 'gaussian' does not use it (it reads data.mu, "
                                    "data.sigma); remove it"),
    (["data.gmm_weights=[1, 2]"], "data.gmm_weights: family 'gaussian' does not use it"),
    (["data.family=gmm", "data.mu=0.3"], "data.mu: family 'gmm' does not use it"),
    (["data.family=digits", "grid.N=[1000]", "data.sigma=0.2"],
     "data.sigma: family 'digits' does not use it (it reads none of the data fields)"),
    (["data.family=gmm", "data.sigma=0.2", "data.gmm_sigmas=[0.1, 0.1]"],
     "data.sigma: not used when data.gmm_sigmas gives each component's"),
])
def test_data_settings_the_family_ignores_are_refused_by_dry_run(tiny_sweep, overrides, fragment):
    sets = [arg for item in overrides for arg in ("--set", item)]
    _one_line_error(_cli("sweep", "unet", tiny_sweep, "--dry-run", *sets), fragment)


def test_resolved_configs_of_every_family_validate_again(tiny_sweep):
    """config.yaml holds every data field (the defaults of those a family ignores): it must load as a config."""
    from memgen_cli.config import config_to_dict

    for family in (["data.family=gmm", "data.gmm_sigmas=[0.1, 0.2]"], ["data.family=digits"], []):
        config = load_sweep_config(tiny_sweep, family, model="unet")
        again = type(config).model_validate(config_to_dict(config))
        assert again == config and UnetExperiment().cells(again) == UnetExperiment().cells(config)


def test_an_image_dir_that_cannot_be_a_folder_fails_before_training(tiny_sweep, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _one_line_error(_cli("sweep", "unet", tiny_sweep, "--dry-run", "--set", f"output.image_dir={blocker / 'png'}"),
                    f"output.image_dir: {blocker} exists and is not a folder")
    # A relative image_dir lies inside --out: checked when the sweep starts, before the folder is touched.
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").write_text("not a folder")
    result = _cli("sweep", "unet", tiny_sweep, "--executor", "serial", "--quiet", "--out", out,
                  "--set", "output.image_dir=images")
    _one_line_error(result, f"output.image_dir: {out.resolve() / 'images'} exists and is not a folder")
    assert sorted(p.name for p in out.iterdir()) == ["images"]  # no config.yaml, manifest or parts


def test_a_folder_written_before_data_path_and_channels_resumes(tiny_sweep, tmp_path):
    config = load_sweep_config(tiny_sweep, ["grid.n=[4]", "simulations=1"], model="unet")
    out = tmp_path / "out"
    first = run_sweep(config, out, executor="serial")
    stored = (out / "config.yaml").read_text()
    assert "channels: 1" in stored
    # as an older memgen wrote it: no data.path, no data.channels
    (out / "config.yaml").write_text("\n".join(line for line in stored.splitlines()
                                               if not line.strip().startswith(("path:", "channels:"))) + "\n")
    again = run_sweep(config, out, executor="serial")
    assert again.tasks_run == 0 and again.tasks_skipped == 1
    pd.testing.assert_frame_equal(first.trials.drop(columns=TIMINGS), again.trials.drop(columns=TIMINGS))


def test_a_task_validates_its_cell_once(tiny_sweep, monkeypatch):
    """The config once per worker, each task's cell once (SimulationParams), never again down the call chain."""
    from pydantic import BaseModel

    counts = {}
    validate = BaseModel.model_validate.__func__

    def spy(cls, *args, **kwargs):
        counts[cls.__name__] = counts.get(cls.__name__, 0) + 1
        return validate(cls, *args, **kwargs)

    from memgen_cli.runner import plan

    config = load_sweep_config(tiny_sweep, ["grid.n=[4]", "simulations=3"], model="unet")
    monkeypatch.setattr(plan, "_worker_configs", {})  # as a fresh worker
    monkeypatch.setattr(BaseModel, "model_validate", classmethod(spy))
    run_sweep(config, executor="serial")
    assert counts == {"UnetConfig": 1, "SimulationParams": 3}
