"""A PNG grid of generated images beside their nearest training images, one per cell, and the config's output
section that asks for them (``ImageOutput``), for every image experiment.

The grid's rows are named in a strip on its left (ROW_LABELS, LABEL_WIDTH pixels wide): the tiles themselves are
``image_grid``'s pixels, unscaled and unchanged, to the right of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from memgen_cli.errors import MemgenError
from memgen_cli.config import left_out_at_defaults
from memgen_cli.results_format import name_problem

ROW_LABELS = ("generated", "nearest\ntraining\nimage")  # the grid's top row, its bottom row
LABEL_WIDTH = 64  # pixels left of the tiles that name the rows
LABEL_DPI = 100  # the labelled PNG is drawn pixel for pixel: one figure pixel per image pixel


class ImageOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_dir: str | None = Field(default=None, description="folder for one PNG grid per cell (generated "
                                                               "images over their nearest training images); "
                                                               "a relative path lies inside the results folder")
    samples: bool = Field(default=False, description="also write each cell's first simulation's generated images "
                                                     "and training set, as stored, to <image_dir>/cell-<id>.npz "
                                                     "(arrays samples, train): input for `memgen evaluate`")

    @model_serializer(mode="wrap")
    def _samples_when_set(self, handler):
        # Off, it stays out of config.yaml: folders written before it resume as they were.
        return left_out_at_defaults(handler(self), {"samples": False})

    @model_validator(mode="after")
    def _samples_need_a_folder(self) -> ImageOutput:
        if self.samples and not self.image_dir:
            raise ValueError("output.samples: needs output.image_dir (the folder the .npz files go to)")
        return self


def image_dir_problem(path: Path) -> str | None:
    """Why the PNG grids could not be written in ``path`` (None: they can), found before any work."""
    if problem := name_problem(path):
        return f"{path}: {problem}"
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                return f"{folder} exists and is not a folder"
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"{folder}: no permission to write there"
            return None
    return None


def check_image_dir(output: ImageOutput) -> None:
    """An absolute output.image_dir checked with the config (a relative one when the sweep knows its folder)."""
    image_dir = output.image_dir
    if image_dir and Path(image_dir).is_absolute() and (problem := image_dir_problem(Path(image_dir))):
        raise MemgenError(f"output.image_dir: {problem}")


def resolve_image_dir(config: dict, out: Path | None) -> dict:
    """The config as tasks see it (``Experiment.task_config``): a relative output.image_dir resolved inside the
    results folder ``out`` and checked, before the folder is created (it may not exist yet)."""
    image_dir = config["output"]["image_dir"]
    if not image_dir:
        return config
    base = Path(out).resolve() if out is not None else Path.cwd()
    path = base / image_dir  # an absolute image_dir stays itself
    inside = os.path.normpath(path) == str(base) or os.path.normpath(path).startswith(os.path.join(str(base), ""))
    if not Path(image_dir).is_absolute() and not inside:
        raise MemgenError(f"output.image_dir: {image_dir!r} leads out of the results folder; a relative path "
                          "stays inside it (give an absolute path to write elsewhere)")
    if (problem := image_dir_problem(path)) is not None:
        raise MemgenError(f"output.image_dir: {problem}")
    return {**config, "output": {**config["output"], "image_dir": str(path)}}


def write_cell_grid(output: ImageOutput, model: str, cell: dict, generated: np.ndarray, train: np.ndarray) -> None:
    """``<image_dir>/cell-<cell id>.png``: a cell's generated images over their nearest training images; with
    output.samples also ``cell-<cell id>.npz``: the generated images and the training set as the metrics saw them
    (float64, [0, 1] pixel units, generated ones not clipped), so `memgen evaluate --features` on them reproduces
    the cell's memorized fraction exactly."""
    from memgen_cli.results_format import atomic_write
    from memgen_cli.seeding import cell_id

    if not output.image_dir:
        return
    name = Path(output.image_dir) / f"cell-{cell_id(model, cell)}"
    write_labelled_grid(name.with_suffix(".png"), image_grid(generated, train))
    if output.samples:
        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, samples=np.asarray(generated, dtype=np.float64),
                         train=np.asarray(train, dtype=np.float64))

        atomic_write(name.with_suffix(".npz"), save)


def nearest_training_images(generated: np.ndarray, train: np.ndarray) -> np.ndarray:
    """For each generated image, its nearest training image (Euclidean); shapes (m, s, s) and (n, s, s)."""
    g, t = generated.reshape(len(generated), -1), train.reshape(len(train), -1)
    sq = (g * g).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2.0 * g @ t.T
    return train[np.argmin(sq, axis=1)]


def image_grid(generated: np.ndarray, train: np.ndarray, scale: int | None = None, gap: int = 1) -> np.ndarray:
    """uint8 (H, W) (RGB: (H, W, 3)): top row the generated images, bottom row their nearest training images;
    [0, 1] -> 0..255.

    scale: integer upscaling (default: tiles of about 64 pixels, so 8 x 8 images stay readable).
    """
    scale = scale or max(1, 64 // generated.shape[1])
    pairs = np.stack([generated, nearest_training_images(generated, train)])  # (2, m, s, s[, 3])
    pairs = np.clip(pairs, 0.0, 1.0)
    pairs = pairs.repeat(scale, axis=2).repeat(scale, axis=3)  # nearest-neighbour upscaling
    rows, m, h, w = pairs.shape[:4]
    canvas = np.ones((rows * (h + gap) + gap, m * (w + gap) + gap, *pairs.shape[4:]))
    for r in range(rows):  # 2 rows x m tiles: a handful of copies, not a loop over pixels
        for c in range(m):
            canvas[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = \
                pairs[r, c]
    return np.round(canvas * 255).astype(np.uint8)


def write_labelled_grid(path: Path, pixels: np.ndarray, gap: int = 1) -> None:
    """``image_grid``'s pixels (two rows of tiles) as a PNG with each row named in a strip on its left
    (ROW_LABELS): the tiles start LABEL_WIDTH pixels in, pixel for pixel as ``image_grid`` made them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from memgen_cli import ledger
    from memgen_cli.results_format import atomic_write

    height, width = pixels.shape[:2]
    figure = Figure(figsize=((width + LABEL_WIDTH) / LABEL_DPI, height / LABEL_DPI), dpi=LABEL_DPI,
                    facecolor="white")
    FigureCanvasAgg(figure)
    options = dict(cmap="gray", vmin=0, vmax=255) if pixels.ndim == 2 else {}
    figure.figimage(pixels, xo=LABEL_WIDTH, yo=0, origin="upper", **options)
    tile = (height - gap) / len(ROW_LABELS)
    for row, label in enumerate(ROW_LABELS):
        figure.text(LABEL_WIDTH / 2 / (width + LABEL_WIDTH), 1 - (row + 0.5) * tile / height, label,
                    ha="center", va="center", fontsize=7, linespacing=1.0, color="black")
    path = Path(path)
    ledger.make_dirs(path.parent)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=LABEL_DPI,
                                                  metadata={"Software": None}))


def write_png_gray(path: Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG (uint8 array (H, W); RGB: (H, W, 3)) atomically, with matplotlib's writer."""
    from matplotlib.image import imsave

    from memgen_cli import ledger
    from memgen_cli.results_format import atomic_write

    path = Path(path)
    ledger.make_dirs(path.parent)
    options = dict(cmap="gray", vmin=0, vmax=255) if pixels.ndim == 2 else {}
    atomic_write(path, lambda tmp: imsave(tmp, pixels, format="png", **options))
