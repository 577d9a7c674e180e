"""Image data families for the U-Net experiment, drawn from a ``numpy.random.Generator``.

One pixel scale everywhere outside the network: [0, 1] pixel units (float64, shape (count, side, side)).
The network sees ``to_model_scale`` (2x - 1, in [-1, 1]); generated images come back via ``from_model_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import MemgenError

FAMILIES = ("gaussian", "gmm", "digits")
DIGITS_SIDE = 8  # scikit-learn's handwritten digits are 8x8


@dataclass(frozen=True)
class DataSplit:
    """A simulation's training set and its disjoint original set, both in [0, 1] pixel units."""

    train: np.ndarray  # (n, side, side)
    original: np.ndarray  # (N, side, side)
    pixel_sigma: float  # the data's pixel standard deviation: the metric's sigma (eps = sigma / m)


def to_model_scale(images01: np.ndarray) -> np.ndarray:
    return 2.0 * images01 - 1.0


def from_model_scale(images_pm1: np.ndarray) -> np.ndarray:
    return (images_pm1 + 1.0) / 2.0


@lru_cache(maxsize=1)
def digits_images() -> np.ndarray:
    """All 1797 scikit-learn digits as (1797, 8, 8) in [0, 1] (they ship with scikit-learn: no download)."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float64) / 16.0
    images.setflags(write=False)
    return images


def digits_available() -> int:
    return int(digits_images().shape[0])


def gmm_pixel_sigma(means: list[float], sigmas: list[float], weights: list[float]) -> float:
    """Marginal pixel std of the mixture (law of total variance)."""
    w = np.asarray(weights, float) / np.sum(weights)
    m, s = np.asarray(means, float), np.asarray(sigmas, float)
    mean = np.sum(w * m)
    return float(np.sqrt(np.sum(w * (s**2 + m**2)) - mean**2))


def _gaussian(rng: np.random.Generator, count: int, side: int, mu: float, sigma: float) -> np.ndarray:
    return rng.normal(mu, sigma, size=(count, side, side))


def _gmm(rng: np.random.Generator, count: int, side: int, means, sigmas, weights) -> np.ndarray:
    """Isotropic mixture: each image picks component c with probability weights[c];
    its pixels are then i.i.d. N(means[c], sigmas[c]²)."""
    w = np.asarray(weights, float) / np.sum(weights)
    comp = rng.choice(len(w), size=count, p=w)
    m, s = np.asarray(means, float)[comp], np.asarray(sigmas, float)[comp]
    return m[:, None, None] + s[:, None, None] * rng.standard_normal((count, side, side))


def gmm_components(params: dict) -> tuple[list[float], list[float], list[float]]:
    """(means, sigmas, weights) of the mixture; sigmas default to ``sigma`` and weights to equal."""
    means = list(params.get("gmm_means") or [0.3, 0.7])
    sigmas = params.get("gmm_sigmas")
    if sigmas is None:
        sigmas = params.get("sigma", 0.1)
    sigmas = list(sigmas) if isinstance(sigmas, (list, tuple)) else [float(sigmas)] * len(means)
    weights = list(params.get("gmm_weights") or [1.0] * len(means))
    return means, sigmas, weights


def sample_split(params: dict, rng: np.random.Generator) -> DataSplit:
    """Draw n training images and the original set (N images; digits: every digit not used for training)."""
    family, n, side = params["data"], int(params["n"]), int(params["side"])
    if family == "gaussian":
        mu, sigma = float(params.get("mu", 0.5)), float(params.get("sigma", 0.1))
        train = _gaussian(rng, n, side, mu, sigma)
        original = _gaussian(rng, int(params["N"]), side, mu, sigma)
        return DataSplit(train, original, sigma)
    if family == "gmm":
        means, sigmas, weights = gmm_components(params)
        train = _gmm(rng, n, side, means, sigmas, weights)
        original = _gmm(rng, int(params["N"]), side, means, sigmas, weights)
        return DataSplit(train, original, gmm_pixel_sigma(means, sigmas, weights))
    if family == "digits":
        images = digits_images()
        order = rng.permutation(images.shape[0])
        # sigma: std over all pixels of all digits, a fixed property of the data set (not of this split).
        return DataSplit(images[order[:n]].copy(), images[order[n:]].copy(), float(images.std()))
    raise MemgenError(f"data: unknown data family {family!r} (choose from {', '.join(FAMILIES)})")
