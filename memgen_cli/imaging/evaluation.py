"""The evaluation every image experiment shares: its config section and every metric of one set of generated
images against the training and original sets, all in [0, 1] pixel units (numpy; on CUDA the U-Net passes its
torch versions of the two heaviest metrics).

The training and original sides of an evaluation (the subsets, their KDEs' self-overlaps, their densities on the
grid) are prepared once (``prepare``) and shared by every generated set measured against them (``measure``): the
model's samples and the reference models of ``imaging.references``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from memgen_cli.config import Integer, left_out_at_defaults
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import metrics
from memgen_cli.kde import KDEReference, kde_bandwidth, kde_l2_distances, log_kde_cross_overlap, log_kde_self_overlap

# paper: each set's own width (sigma / m per pixel, sigma m^(-1/d) in d dimensions); common: one width for the
# generated, training and original KDEs, the normal-reference rule at the generated count M (docs/unet.md).
BANDWIDTHS = ("paper", "common")


class ImageEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    eval_train: Integer | None = Field(default=None, ge=2, description="training subset (paper 10/100); all")
    eval_original: Integer | None = Field(default=None, ge=2, description="original subset (paper 10/100); all")
    grid_points: Integer = Field(default=16, ge=1, description="points per pixel of the published grid integral")
    kde_max_points: Integer = Field(default=2000, ge=2, description="cap on each set in the d-dimensional KDE")
    bootstrap: Integer = Field(default=1000, ge=1, le=1_000_000,
                               description="resamples for the memorized-fraction interval")
    every: Integer | None = Field(default=None, ge=1, description="evaluate again at every K-th optimizer step "
                                                                   "(curves.csv); not part of a cell")
    bandwidth: Literal[BANDWIDTHS] = Field(  # type: ignore[valid-type]
        default="paper", description="KDE widths: paper (sigma/m for each set of m images) or common (one width "
                                     "for all three sets: 1.06 sigma M^(-1/5) per pixel, M generated images)")
    references: bool = Field(default=True, description="also measure an ideal generalizer and an ideal memorizer "
                                                       "in each simulation (no training); not part of a cell")

    @model_serializer(mode="wrap")
    def _defaults_left_out(self, handler):
        # At their defaults these stay out of config.yaml and out of cells (so cell ids, seeds and the stored parts'
        # identities are those of before they existed).
        return left_out_at_defaults(handler(self), {"every": None, "bandwidth": "paper", "references": True})


BINARY_METRICS = ("delta_positive", "delta_positive_exact", "delta_positive_kde")
MEAN_METRICS = ("E_TG", "E_OG", "Delta", "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde",
                "log_E_OG_kde", "log_abs_delta_kde", "memorized_fraction")
# The columns ``evaluate`` returns, in order.
EVALUATION_COLUMNS = ("delta_positive", "delta_positive_exact", "delta_positive_kde", "E_TG", "E_OG", "Delta",
                      "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde", "log_E_OG_kde", "delta_sign_kde",
                      "log_abs_delta_kde", "memorized_fraction", "memorized_lo", "memorized_hi", "pixel_sigma",
                      "pixel_scale", "n_eval_train", "n_eval_original", "n_original")


def _subset(images: np.ndarray, size: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """A random subset of ``size`` images (all of them when size is None), flattened to (size, d), and which rows
    were taken (None: all)."""
    flat = images.reshape(images.shape[0], -1)
    if size is None or size >= flat.shape[0]:
        return flat, None
    rows = rng.choice(flat.shape[0], size=size, replace=False)
    return flat[rows], rows


def pixel_width(evaluation: ImageEvaluation, sigma: float, m: int, generated: int) -> float:
    """The per-pixel KDE width of a set of m images. paper: sigma / m. common: Silverman's normal-reference rule at
    the generated count M for every set, (4/3)^(1/5) sigma M^(-1/5) = 1.06 sigma M^(-1/5) (kde_bandwidth's
    L²-optimal rule at d = 1)."""
    if evaluation.bandwidth == "common":
        return kde_bandwidth("rosenblatt", generated, 1, sigma)
    return metrics.pixel_bandwidth(sigma, m)


@dataclass(frozen=True)
class EvaluationSets:
    """The training and original sides of one evaluation, drawn and computed once; every generated set of
    ``generated`` images is measured against them (the model's, and the references of imaging.references)."""

    split: data_mod.DataSplit
    evaluation: ImageEvaluation
    generated: int  # M: the generated sets' size (the widths under bandwidth common depend on it)
    train_flat: np.ndarray  # the whole training set, (n, d): the nearest-neighbour test
    train_eval: np.ndarray  # the evaluated subsets, (m_T, d) and (m_O, d)
    original_eval: np.ndarray
    original_rows: np.ndarray | None  # which originals were evaluated (None: all)
    exact_train: metrics.PixelKDE  # the exact per-pixel metric's training and original KDEs
    exact_original: metrics.PixelKDE
    grid_train: np.ndarray  # their densities on the published grid, (points, d)
    grid_original: np.ndarray
    kde_train: KDEReference  # the d-dimensional KDEs (subsets capped at kde_max_points)
    kde_original: KDEReference
    pixel_sums: object = metrics.PixelSums  # numpy, or unet.device_metrics.TorchPixelSums on a GPU

    @property
    def sigma(self) -> float:
        return self.split.pixel_sigma


def prepare(split: data_mod.DataSplit, evaluation: ImageEvaluation, rng: np.random.Generator, generated: int,
            pixel_sums=metrics.PixelSums) -> EvaluationSets:
    """Draw the evaluated subsets from ``rng`` (training, original, then the d-dimensional KDE's caps: the order
    ``evaluate`` always drew them in) and compute everything about them that no generated set changes."""
    train_eval, _ = _subset(split.train, evaluation.eval_train, rng)
    original_eval, original_rows = _subset(split.original, evaluation.eval_original, rng)
    sigma, points = split.pixel_sigma, evaluation.grid_points
    eps_t = pixel_width(evaluation, sigma, len(train_eval), generated)
    eps_o = pixel_width(evaluation, sigma, len(original_eval), generated)
    grid = metrics.grid_points(points)
    cap = evaluation.kde_max_points
    kde_t, kde_o = _subset(train_eval, cap, rng)[0], _subset(original_eval, cap, rng)[0]
    if evaluation.bandwidth == "common":
        eps = kde_bandwidth("rosenblatt", generated, kde_t.shape[1], sigma)
        kde_train, kde_original = KDEReference.build(kde_t, eps), KDEReference.build(kde_o, eps)
    else:
        kde_train, kde_original = KDEReference.for_rule(kde_t, "paper", sigma), KDEReference.for_rule(kde_o, "paper",
                                                                                                        sigma)
    return EvaluationSets(split, evaluation, generated, split.train.reshape(split.train.shape[0], -1), train_eval,
                          original_eval, original_rows, metrics.pixel_kde(train_eval, eps_t, pixel_sums),
                          metrics.pixel_kde(original_eval, eps_o, pixel_sums),
                          metrics.pixel_kde_densities_on_grid(train_eval, eps_t, grid),
                          metrics.pixel_kde_densities_on_grid(original_eval, eps_o, grid), kde_train, kde_original,
                          pixel_sums)


def full_dimensional_kde(generated: np.ndarray, sets: EvaluationSets) -> dict:
    """The paper's metric between d-dimensional isotropic KDEs (paper: eps = sigma m^(-1/d) per set, eq. 9; common:
    one width), natural logs. Built from ``memgen_cli.kde`` (shared with the linear model) with the rule-exact
    diagonal terms, so the equal diagonals of the training and original KDEs cancel exactly in Delta."""
    m, d = generated.shape
    rule = "rosenblatt" if sets.evaluation.bandwidth == "common" else "paper"
    eps_g = kde_bandwidth(rule, sets.generated if rule == "rosenblatt" else m, d, sets.sigma)
    train, original = sets.kde_train, sets.kde_original
    out = kde_l2_distances(log_kde_self_overlap(generated, eps_g),
                           log_kde_cross_overlap(generated, train.points, eps_g, train.eps),
                           log_kde_cross_overlap(generated, original.points, eps_g, original.eps), train, original)
    return {"log_E_TG_kde": float(out["log_E_TG"]), "log_E_OG_kde": float(out["log_E_OG"]),
            "delta_sign_kde": int(out["delta_sign"]), "log_abs_delta_kde": float(out["log_abs_delta"]),
            "delta_positive_kde": int(out["delta_sign"] > 0)}


def measure(generated01: np.ndarray, sets: EvaluationSets, rng: np.random.Generator, device: str = "cpu",
            device_metrics: ModuleType | None = None) -> dict:
    """Every metric of one generated set against prepared sets (``rng``: the memorized fraction's bootstrap)."""
    gen = generated01.reshape(generated01.shape[0], -1)
    split, evaluation, sigma = sets.split, sets.evaluation, sets.sigma
    counts = {"pixel_sigma": sigma, "pixel_scale": split.pixel_scale, "n_eval_train": len(sets.train_eval),
              "n_eval_original": len(sets.original_eval), "n_original": split.n_original}
    if not np.isfinite(gen).all():  # a diverged model: no metric means anything, and a NaN is not a 0
        return {**dict.fromkeys((c for c in EVALUATION_COLUMNS if c not in counts), float("nan")), **counts}
    eps_g = pixel_width(evaluation, sigma, len(gen), sets.generated)
    grid_g = metrics.pixel_kde_densities_on_grid(gen, eps_g, metrics.grid_points(evaluation.grid_points))
    e_tg = float(np.sum((sets.grid_train - grid_g) ** 2) / evaluation.grid_points)
    e_og = float(np.sum((sets.grid_original - grid_g) ** 2) / evaluation.grid_points)
    exact = metrics.pixel_kde_distances(metrics.pixel_kde(gen, eps_g, sets.pixel_sums), sets.exact_train,
                                        sets.exact_original, sets.pixel_sums)
    ratios = None if device_metrics is None else device_metrics.nearest_neighbour_ratios(gen, sets.train_flat, device)
    kde = full_dimensional_kde(gen, sets)
    nn = metrics.memorized_fraction(gen, sets.train_flat, rng, resamples=evaluation.bootstrap, ratios=ratios)
    return {
        "delta_positive": int(e_tg - e_og > 0), "delta_positive_exact": int(exact["Delta"] > 0),
        "delta_positive_kde": kde.pop("delta_positive_kde"),
        "E_TG": e_tg, "E_OG": e_og, "Delta": e_tg - e_og,
        "E_TG_exact": exact["E_TG"], "E_OG_exact": exact["E_OG"], "Delta_exact": exact["Delta"],
        **kde, **nn, **counts,
    }


def pixel_sums_for(device: str, device_metrics: ModuleType | None):
    """The exact metric's Gaussian sums: numpy, or the device's (on CUDA)."""
    return metrics.PixelSums if device_metrics is None else device_metrics.TorchPixelSums(device)


def evaluate(generated01: np.ndarray, split: data_mod.DataSplit, evaluation: ImageEvaluation,
             rng: np.random.Generator, device: str = "cpu", device_metrics: ModuleType | None = None) -> dict:
    """Every metric of one simulation; all sets in [0, 1] pixel units. With ``device_metrics`` (the U-Net's torch
    module, on CUDA) the exact per-pixel metric and the nearest-neighbour ratios run on ``device``; else numpy."""
    sets = prepare(split, evaluation, rng, generated01.shape[0], pixel_sums_for(device, device_metrics))
    return measure(generated01, sets, rng, device, device_metrics)
