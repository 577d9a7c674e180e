"""The evaluation every image experiment shares: its config section and every metric of one set of generated
images against the training and original sets, all in [0, 1] pixel units (numpy; on CUDA the U-Net passes its
torch versions of the two heaviest metrics)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from memgen_cli.config import Integer
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import metrics


class ImageEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    eval_train: Integer | None = Field(default=None, ge=2, description="training subset (paper 10/100); all")
    eval_original: Integer | None = Field(default=None, ge=2, description="original subset (paper 10/100); all")
    grid_points: Integer = Field(default=16, ge=1, description="points per pixel of the published grid integral")
    kde_max_points: Integer = Field(default=2000, ge=2, description="cap on each set in the d-dimensional KDE")
    bootstrap: Integer = Field(default=1000, ge=1, description="resamples for the memorized-fraction interval")
    every: Integer | None = Field(default=None, ge=1, description="evaluate again at every K-th optimizer step "
                                                                   "(curves.csv); not part of a cell")

    @model_serializer(mode="wrap")
    def _every_when_set(self, handler):
        # Unset, it stays out of config.yaml and out of cells (so cell ids and seeds are those of before).
        data = handler(self)
        if isinstance(data, dict) and data.get("every") is None:
            data.pop("every", None)
        return data



BINARY_METRICS = ("delta_positive", "delta_positive_exact", "delta_positive_kde")
MEAN_METRICS = ("E_TG", "E_OG", "Delta", "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde",
                "log_E_OG_kde", "log_abs_delta_kde", "memorized_fraction")
# The columns ``evaluate`` returns, in order.
EVALUATION_COLUMNS = ("delta_positive", "delta_positive_exact", "delta_positive_kde", "E_TG", "E_OG", "Delta",
                      "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde", "log_E_OG_kde", "delta_sign_kde",
                      "log_abs_delta_kde", "memorized_fraction", "memorized_lo", "memorized_hi", "pixel_sigma",
                      "pixel_scale", "n_eval_train", "n_eval_original", "n_original")


def _subset(images: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random subset of ``size`` images (all of them when size is None), flattened to (size, d)."""
    flat = images.reshape(images.shape[0], -1)
    if size is None or size >= flat.shape[0]:
        return flat
    return flat[rng.choice(flat.shape[0], size=size, replace=False)]


def full_dimensional_kde(generated, train, original, sigma: float) -> dict:
    """The paper's metric between d-dimensional isotropic KDEs (eps = sigma m^(-1/d), eq. 9), natural logs.

    Built from ``memgen_cli.kde`` (shared with the linear model) with the rule-exact diagonal terms, so the
    equal diagonals of the training and original KDEs cancel exactly in Delta.
    """
    from memgen_cli.kde import isotropic_kde_distances

    out = isotropic_kde_distances(generated, train, original, sigma, rule="paper")
    return {"log_E_TG_kde": float(out["log_E_TG"]), "log_E_OG_kde": float(out["log_E_OG"]),
            "delta_sign_kde": int(out["delta_sign"]), "log_abs_delta_kde": float(out["log_abs_delta"]),
            "delta_positive_kde": int(out["delta_sign"] > 0)}


def evaluate(generated01: np.ndarray, split: data_mod.DataSplit, evaluation: ImageEvaluation,
             rng: np.random.Generator, device: str = "cpu", device_metrics: ModuleType | None = None) -> dict:
    """Every metric of one simulation; all sets in [0, 1] pixel units. With ``device_metrics`` (the U-Net's torch
    module, on CUDA) the exact per-pixel metric and the nearest-neighbour ratios run on ``device``; else numpy."""
    gen = generated01.reshape(generated01.shape[0], -1)
    train_eval = _subset(split.train, evaluation.eval_train, rng)
    original_eval = _subset(split.original, evaluation.eval_original, rng)
    sigma = split.pixel_sigma
    if not np.isfinite(gen).all():  # a diverged model: no metric means anything, and a NaN is not a 0
        measured = ("pixel_sigma", "pixel_scale", "n_eval_train", "n_eval_original", "n_original")
        return {**dict.fromkeys((c for c in EVALUATION_COLUMNS if c not in measured), float("nan")),
                "pixel_sigma": sigma, "pixel_scale": split.pixel_scale, "n_eval_train": len(train_eval),
                "n_eval_original": len(original_eval), "n_original": int(split.original.shape[0])}
    grid = metrics.pixel_kde_distances_grid(gen, train_eval, original_eval, sigma, points=evaluation.grid_points)
    train_flat = split.train.reshape(split.train.shape[0], -1)
    ratios = None
    if device_metrics is not None:
        exact = device_metrics.pixel_kde_distances_exact(gen, train_eval, original_eval, sigma, device)
        ratios = device_metrics.nearest_neighbour_ratios(gen, train_flat, device)
    else:
        exact = metrics.pixel_kde_distances_exact(gen, train_eval, original_eval, sigma)
    cap = evaluation.kde_max_points
    kde = full_dimensional_kde(gen, _subset(train_eval, cap, rng), _subset(original_eval, cap, rng), sigma)
    nn = metrics.memorized_fraction(gen, train_flat, rng, resamples=evaluation.bootstrap, ratios=ratios)
    return {
        "delta_positive": int(grid["Delta"] > 0), "delta_positive_exact": int(exact["Delta"] > 0),
        "delta_positive_kde": kde.pop("delta_positive_kde"),
        "E_TG": grid["E_TG"], "E_OG": grid["E_OG"], "Delta": grid["Delta"],
        "E_TG_exact": exact["E_TG"], "E_OG_exact": exact["E_OG"], "Delta_exact": exact["Delta"],
        **kde, **nn,
        "pixel_sigma": sigma, "pixel_scale": split.pixel_scale, "n_eval_train": len(train_eval),
        "n_eval_original": len(original_eval), "n_original": int(split.original.shape[0]),
    }


