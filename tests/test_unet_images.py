"""Real images for the U-Net: the ``images`` family from a .npz/.npy array or a folder of PNGs the tests make,
and scikit-learn's digits upsampled to 16 x 16."""

import textwrap

import numpy as np
import pytest
from PIL import Image

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)

from tiny import unet_cell
from memgen_cli.errors import MemgenError
from memgen_cli.runner.sweep import load_sweep_config
from memgen_cli.imaging import data
from memgen_cli.imaging.image_files import image_count, load_images
from memgen_cli.imaging.grids import image_grid, write_png_gray
from memgen_cli.unet.params import SimulationParams
from memgen_cli.unet.simulation import simulate

TINY = unet_cell(n=6, N=30, train_steps=2, batch_size=6, generated=3, eval_original=20, data="images")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """40 distinct 12 x 12 RGB images as a .npz (uint8), a gray .npy (float in [0, 1]) and a folder of PNGs."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(40, 12, 12, 3), dtype=np.uint8)
    rgb[:, 0, 0, 0] = np.arange(40)  # every image distinct (and identifiable after resizing: its mean differs)
    np.savez(folder / "rgb.npz", images=rgb)
    np.save(folder / "gray.npy", rgb[..., 0] / 255.0)
    (folder / "png").mkdir()
    for k in range(40):
        Image.fromarray(rgb[k]).save(folder / "png" / f"{k:03d}.png")
    return folder, rgb


def test_npz_images_are_resized_scaled_and_split_without_overlap(files):
    folder, rgb = files
    loaded = load_images(str(folder / "rgb.npz"), 8, 3)
    assert loaded.pixels.shape == (40, 8, 8, 3) and loaded.scale == "uint8 / 255"
    assert 0 <= loaded.pixels.min() and loaded.pixels.max() <= 1
    # Bilinear resizing keeps each image's mean colour (12 -> 8 averages neighbouring pixels).
    assert np.allclose(loaded.pixels.mean(axis=(1, 2)), rgb.mean(axis=(1, 2)) / 255, atol=0.03)
    params = SimulationParams.from_cell({**TINY, "path": str(folder / "rgb.npz"), "channels": 3})
    split = data.sample_split(params.data, 6, 30, 8, np.random.default_rng(3))
    assert split.train.shape == (6, 8, 8, 3) and split.original.shape == (30, 8, 8, 3)
    train, original = ({r.tobytes() for r in s} for s in (split.train, split.original))
    assert len(train) == 6 and len(original) == 30 and not train & original
    other = data.sample_split(params.data, 6, 30, 8, np.random.default_rng(4))
    assert not np.array_equal(other.train, split.train)  # the seed draws the split
    assert split.pixel_scale == "uint8 / 255" and split.pixel_sigma == pytest.approx(loaded.pixels.std())


def test_gray_npy_and_png_folder_give_the_same_gray_images(files):
    folder, rgb = files
    gray = load_images(str(folder / "gray.npy"), 12, 1)
    assert gray.pixels.shape == (40, 12, 12) and gray.scale == "float, as stored"
    assert np.allclose(gray.pixels, rgb[..., 0] / 255.0)
    pngs = load_images(str(folder / "png"), 12, 1)
    assert pngs.scale == "8-bit files / 255" and image_count(str(folder / "png")) == 40
    luma = rgb @ np.array([0.299, 0.587, 0.114]) / 255  # what Pillow's convert("L") computes, rounded
    assert np.abs(pngs.pixels - luma).max() <= 1 / 255 + 1e-9
    rgb_from_npz = load_images(str(folder / "rgb.npz"), 12, 1)
    assert np.abs(rgb_from_npz.pixels - pngs.pixels).max() <= 1 / 255 + 1e-9


def test_a_simulation_on_rgb_images_generates_rgb_images(files, tmp_path):
    folder, _ = files
    result = simulate({**TINY, "path": str(folder / "png"), "channels": 3}, seed=2, device="cpu", threads=1)
    assert result.generated.shape == (3, 8, 8, 3) and result.train.shape == (6, 8, 8, 3)
    assert result.row["pixel_scale"] == "8-bit files / 255" and np.isfinite(result.row["E_OG_exact"])
    grid = image_grid(result.generated, result.train)
    assert grid.ndim == 3 and grid.shape[2] == 3 and grid.dtype == np.uint8
    write_png_gray(tmp_path / "grid.png", grid)
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape[:2] == grid.shape[:2]


@pytest.fixture
def images_config(tmp_path, files):
    folder, _ = files
    path = tmp_path / "images.yaml"
    path.write_text(textwrap.dedent(f"""
        model: unet
        simulations: 1
        device: cpu
        grid: {{n: [6], side: [8], N: [30], train_steps: [2]}}
        data: {{family: images, path: {folder / 'rgb.npz'}, channels: 3}}
        training: {{batch_size: 6}}
        sampling: {{generated: 3}}
        evaluation: {{eval_original: 20}}
    """))
    return path


@pytest.mark.parametrize("overrides,message", [
    (["grid.N=[35]"], r"^cell 0: data\.path: .*rgb\.npz holds 40 images, fewer than n \+ N = 6 \+ 35 "),
    (["data.path=/no/such.npz"], r"^cell 0: data\.path: /no/such\.npz: no such file or folder$"),
    (["data.path=null"], r"^cell 0: data\.path: family 'images' needs a \.npz/\.npy file or a folder"),
    (["data.channels=2"], r": data\.channels: input should be 1 or 3 \(got 2\)$"),
    (["data.family=digits"], r"data\.path: family 'digits' does not use it"),
])
def test_bad_image_settings_are_one_line_errors(images_config, overrides, message):
    with pytest.raises(MemgenError, match=message) as info:
        load_sweep_config(images_config, overrides, model="unet")
    assert "\n" not in str(info.value)


def test_files_that_are_not_images_are_one_line_errors(images_config, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((50, 64)))
    np.save(tmp_path / "big.npy", np.full((50, 8, 8), 3.0))
    (tmp_path / "empty").mkdir()
    np.savez(tmp_path / "two.npz", a=np.zeros((50, 8, 8)), b=np.zeros(3))
    for path, fragment in ((tmp_path / "flat.npy", "expected N x H x W or N x H x W x C"),
                           (tmp_path / "empty", "holds no PNG/JPG/JPEG files"),
                           (tmp_path / "two.npz", "name the images 'images'"),
                           (tmp_path / "big.npy", r"float pixels must lie in \[0, 1\]")):  # with the config
        with pytest.raises(MemgenError, match=fragment) as info:
            load_sweep_config(images_config, [f"data.path={path}", "data.channels=1"], model="unet")
        assert str(info.value).startswith("cell 0: data.path: ")
    with pytest.raises(ValueError, match=r"image 0 holds values 3\.\.3; float pixels must lie in \[0, 1\]"):
        load_images(str(tmp_path / "big.npy"), 8, 1)


def test_digits_upsampled_to_16():
    params = SimulationParams.from_cell({**TINY, "data": "digits", "side": 16, "n": 50})
    split = data.sample_split(params.data, 50, params.grid.N, 16, np.random.default_rng(0))
    assert split.train.shape == (50, 16, 16) and split.original.shape == (1747, 16, 16)
    assert 0 <= split.train.min() and split.train.max() <= 1
    eight, sixteen = data.digits_images(8), data.digits_images(16)
    assert np.allclose(sixteen.mean(axis=(1, 2)), eight.mean(axis=(1, 2)), atol=0.02)
    with pytest.raises(MemgenError, match=r"grid\.side: the digits are 8x8, so side must be 8 \(or 16"):
        SimulationParams.from_cell({**TINY, "data": "digits", "side": 12})
