"""What `memgen evaluate` writes beside trials.csv for each cell, in <results folder>/evaluate/<cell id>/:

- ``neighbours.csv``: per item of each set (samples, generalizer, memorizer): its k nearest training items (row
  indices in the training set as given, and distances), the NN1/NN2 ratio, the calibrated distance, and whether it
  counts as a copy (ratio < 1/3);
- ``threshold.csv``: the memorized fraction of each set against the ratio threshold (0.05 .. 0.95), with intervals;
- ``duplicates.csv``: near-duplicate pairs inside the training set (the 1/3 rule applied inside it) and whether the
  later of each was dropped;
- ``gallery.png`` (pixels only): the samples nearest to a copy first, each above its 3 nearest training images;
- ``ratios.png``: the ratios' histogram for the samples and both references, and the threshold curve.

Written atomically (a crash leaves the old file or the new one); matplotlib is imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from memgen_cli.evaluate.cell import SETS, CellScores
from memgen_cli.evaluate.inputs import LoadedSet
from memgen_cli.imaging.metrics import MEMORIZATION_RATIO
from memgen_cli.results_format import atomic_write, atomic_write_csv, make_folder

NEIGHBOURS_FILE, THRESHOLD_FILE, DUPLICATES_FILE = "neighbours.csv", "threshold.csv", "duplicates.csv"
GALLERY_FILE, RATIOS_FILE = "gallery.png", "ratios.png"
COLOURS = {"samples": "#1f77b4", "generalizer": "#2ca02c", "memorizer": "#d62728"}
SET_LABELS = {"samples": "your samples", "generalizer": "ideal generalizer (held-out)",
              "memorizer": "ideal memorizer (training copies)"}


def neighbour_table(found: CellScores, listed: int) -> pd.DataFrame:
    frames = []
    for name in SETS:
        if name not in found.neighbours:
            continue
        idx, dist = found.neighbours[name]
        k = min(listed, idx.shape[1])
        frame = pd.DataFrame({"set": name, "item": np.arange(len(idx)), "ratio": found.ratios[name],
                              "calibrated_distance": found.calibrated[name],
                              "copy": (found.ratios[name] < MEMORIZATION_RATIO).astype(int)})
        for j in range(k):
            frame[f"nn{j + 1}"] = idx[:, j]
            frame[f"d{j + 1}"] = dist[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def duplicate_table(found: CellScores) -> pd.DataFrame:
    pairs = found.duplicate_pairs
    kept = None if found.kept is None else set(found.kept.tolist())
    return pd.DataFrame({"first": pairs[:, 0], "second": pairs[:, 1],
                         "second_dropped": [int(kept is not None and j not in kept) for j in pairs[:, 1]]})


def write_cell_outputs(folder: Path, found: CellScores, samples: LoadedSet, train: LoadedSet,
                       gallery: int | None, listed: int = 5) -> None:
    make_folder(folder)
    atomic_write_csv(folder / NEIGHBOURS_FILE, neighbour_table(found, listed))
    atomic_write_csv(folder / THRESHOLD_FILE, pd.DataFrame(found.curves))
    atomic_write_csv(folder / DUPLICATES_FILE, duplicate_table(found))
    import matplotlib

    matplotlib.use("Agg")
    if gallery:
        _save(folder / GALLERY_FILE, gallery_figure(found, samples.values, train.values, gallery))
    _save(folder / RATIOS_FILE, ratios_figure(found))


def _save(path: Path, figure) -> None:
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(figure)


def _shown(image: np.ndarray) -> tuple[np.ndarray, dict]:
    image = np.clip(image, 0.0, 1.0)
    return (image, {"cmap": "gray", "vmin": 0, "vmax": 1}) if image.ndim == 2 else (image, {})


def gallery_figure(found: CellScores, samples: np.ndarray, train: np.ndarray, count: int, nearest: int = 3):
    """Columns: the ``count`` samples with the smallest ratios; rows: the sample, then its nearest training images."""
    import matplotlib.pyplot as plt

    ratio = found.ratios["samples"]
    idx = found.neighbours["samples"][0]
    order = np.argsort(ratio, kind="stable")[:count]
    rows = 1 + min(nearest, idx.shape[1])
    fig, axes = plt.subplots(rows, len(order), figsize=(1.1 * len(order) + 1.4, 1.15 * rows + 0.6), squeeze=False)
    for c, item in enumerate(order):
        for r in range(rows):
            ax = axes[r, c]
            image, style = _shown(samples[item] if r == 0 else train[idx[item, r - 1]])
            ax.imshow(image, **style)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"#{item}\nratio {ratio[item]:.2f}", fontsize=7)
            if c == 0:
                ax.set_ylabel("sample" if r == 0 else f"nearest\ntraining {r}", fontsize=8)
    fig.suptitle("Samples nearest to a copy first (ratio < 1/3: a copy)", fontsize=9)
    fig.tight_layout()
    return fig


def ratios_figure(found: CellScores):
    """Left: the ratios' distribution per set; right: the memorized fraction against the threshold."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    bins = np.linspace(0.0, 1.0, 41)
    curves = pd.DataFrame(found.curves)
    for name in SETS:
        if name not in found.ratios:
            continue
        ratio = found.ratios[name]  # each set's bins sum to 1: a set's spike at 0 does not flatten the others
        left.hist(ratio, bins=bins, weights=np.full(len(ratio), 1.0 / len(ratio)), histtype="step",
                  color=COLOURS[name], label=SET_LABELS[name], linewidth=1.4)
        curve = curves[curves["set"] == name]
        right.plot(curve["threshold"], curve["fraction"], color=COLOURS[name], label=SET_LABELS[name])
        right.fill_between(curve["threshold"], curve["lo"], curve["hi"], color=COLOURS[name], alpha=0.15, linewidth=0)
    for ax in (left, right):
        ax.axvline(MEMORIZATION_RATIO, color="0.4", linestyle="--", linewidth=0.8)
    left.set_xlabel("NN1 / NN2 distance ratio")
    left.set_ylabel("fraction of the set per bin")
    right.set_xlabel("threshold on the ratio")
    right.set_ylabel("fraction below (copies)")
    right.set_ylim(-0.02, 1.02)
    left.legend(fontsize=7, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig
