"""Reproducibility pairs of the image experiments (top-level ``reproducibility: true`` of a U-Net or closed-form
config): each simulation gets a partner model on a training set of its own, sampled from the same noise, and the
two generated sets are compared image by image (imaging.reproducibility). numpy only.

Kadkhodaie, Guth, Simoncelli & Mallat (ICLR 2024) train two models on *disjoint* training sets of the same size n
and feed them the same initial noise: once the models generalize they draw nearly the same image, while they
memorize each draws near its own training set. Here:

- Seeds. The partner's training set and its other draws come from a generator seeded by ``partner_seed(seed)``,
  derived from the simulation's seed alone: the simulation's own generator draws exactly what it drew before
  pairs existed, so its row is unchanged, column for column. The two members share the sampling seed (initial
  noise and every DDPM step's noise) and, for the smoothed closed-form model, its perturbations.
- Disjoint sets. Drawn families (gaussian, gmm): the partner's n images are a fresh draw, disjoint from every
  other set with probability 1. Digits and image files: the partner's n images are drawn without replacement
  from the images that are neither in the simulation's training set nor in the original subset it is
  evaluated against (``evaluated_original``: evaluation.eval_original of the original set); a config whose pool
  holds fewer than n images is refused before any work (``pair_problem``).
- Columns (PAIR_COLUMNS): ``reproduced_fraction`` of the M pairs that are the same image (relative distance
  below 1/3 of the data's typical distance sqrt(2 Σ var), computed over the whole original set), its percentile
  interval over pairs (``reproduced_lo``, ``reproduced_hi``), ``paired_distance`` (the mean squared relative
  distance: the linear model's paired distance on the same scale, 1 for unrelated images), the median relative
  distance ``paired_median_distance``, and ``pair_seconds`` (the partner's data, training and sampling).
"""

from __future__ import annotations

import numpy as np

from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.imaging.reproducibility import reproducibility, typical_distance
from memgen_cli.seeding import derived_seed

PAIR_COLUMNS = ("reproduced_fraction", "reproduced_lo", "reproduced_hi", "paired_distance", "paired_median_distance",
                "pair_seconds")
PAIR_MEANS = ("reproduced_fraction", "paired_distance", "paired_median_distance")  # summarised per cell
POOLED_FAMILIES = ("digits", "images")  # a partner draws from a finite set of images


def partner_seed(seed: int) -> int:
    """The partner's generator: from the simulation's seed alone, by a derivation of its own."""
    return derived_seed(seed, "reproducibility partner")


def _drawn(count: int, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """The positions imaging.evaluation's subset takes (all when size is None or not smaller than count)."""
    if size is None or size >= count:
        return np.arange(count)
    return rng.choice(count, size=size, replace=False)


def evaluated_original(split: data_mod.DataSplit, evaluation: ImageEvaluation, eval_seed: int) -> np.ndarray:
    """Positions in split.original of the original subset ``evaluate(..., default_rng(eval_seed))`` compares with:
    the same two draws in the same order (the training subset, then the original one).
    tests/test_reproducibility_pairs.py checks them against the subset evaluate really uses."""
    rng = np.random.default_rng(eval_seed)
    _drawn(len(split.train), evaluation.eval_train, rng)
    return _drawn(len(split.original), evaluation.eval_original, rng)


def _family_images(data, side: int) -> np.ndarray:
    if data.family == "digits":
        return data_mod.digits_images(side)
    from memgen_cli.imaging.image_files import load_images

    return load_images(data.path, side, data.channels).pixels


def pool_size(n: int, originals: int, evaluation: ImageEvaluation, available: int) -> int:
    """How many images a pooled family's partner can draw from: ``available`` in all, less the training set
    and the evaluated original subset (of the ``originals`` in the original set)."""
    evaluated = originals if evaluation.eval_original is None else min(evaluation.eval_original, originals)
    return available - n - evaluated


def available_images(data) -> int:
    """How many images a pooled family holds (digits: 1797; images: those in data.path)."""
    if data.family == "digits":
        return data_mod.digits_available()
    from memgen_cli.imaging.image_files import image_count

    return image_count(data.path)


def pair_problem(data, n: int, originals: int, evaluation: ImageEvaluation) -> str | None:
    """Why a partner's n training images cannot be disjoint from both sets (None: they can, or data are drawn)."""
    if data.family not in POOLED_FAMILIES:
        return None
    available = available_images(data)
    left = pool_size(n, originals, evaluation, available)
    if left >= n:
        return None
    most = available - 2 * n
    fix = (f"set evaluation.eval_original to at most {most}" if most >= 2
           else "use a smaller n (or more images)")
    return (f"reproducibility: the partner needs n = {n} training images outside the simulation's training set and "
            f"its evaluated original subset, and only {max(left, 0)} of the {available} images are left; {fix}")


def partner_training_set(data, split: data_mod.DataSplit, n: int, side: int, evaluation: ImageEvaluation,
                         eval_seed: int, rng: np.random.Generator) -> np.ndarray:
    """The partner's n training images in [0, 1] pixel units, disjoint from the simulation's training set and from
    its evaluated original subset (module docstring); drawn from ``rng`` (the partner's)."""
    if data.family not in POOLED_FAMILIES:
        return data_mod.sample_split(data, n, 2, side, rng).train  # a fresh draw (two originals, unused)
    if split.train_index is None or split.original_index is None:
        raise ValueError("partner_training_set: a digits or images split must carry its indices")
    images = _family_images(data, side)
    taken = np.concatenate([split.train_index, split.original_index[evaluated_original(split, evaluation, eval_seed)]])
    pool = np.setdiff1d(np.arange(len(images)), taken)
    if len(pool) < n:
        raise ValueError(f"partner_training_set: {len(pool)} images left for a partner of n = {n}")
    return images[rng.choice(pool, size=n, replace=False)].copy()


def pair_columns(first01: np.ndarray, second01: np.ndarray, split: data_mod.DataSplit, evaluation: ImageEvaluation,
                 rng: np.random.Generator, seconds: float) -> dict:
    """PAIR_COLUMNS of one pair of generated sets (image k of each from the same noise); NaN when either diverged."""
    if not (np.isfinite(first01).all() and np.isfinite(second01).all()):
        return {**dict.fromkeys(PAIR_COLUMNS[:-1], float("nan")), "pair_seconds": seconds}
    found = reproducibility(first01, second01, typical_distance(split.original), rng=rng,
                            resamples=evaluation.bootstrap)
    return {"reproduced_fraction": found["same_fraction"], "reproduced_lo": found["same_lo"],
            "reproduced_hi": found["same_hi"], "paired_distance": found["mean_sq_relative_distance"],
            "paired_median_distance": found["median_relative_distance"], "pair_seconds": seconds}
